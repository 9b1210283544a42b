import type { Logger } from 'pino';

/**
 * Route schemas compile on each route's first request, for quick restarts (src/http/server.ts);
 * all of them are compiled here, in the background once the service listens, so that a schema
 * that does not compile still stops the service soon after start-up, as it did when Fastify
 * compiled them before listening, rather than answering 500 at some route's first request.
 *
 * What an operator expects of a faulty release is a failed start, as with a bad setting: the
 * error is logged (fatal, naming the route, the schema's part and the compiler's message) and
 * the service stops as on SIGTERM (in-flight requests and queued events finish), exit code 1.
 * A supervisor restarting it gets the same failure each time (a crash loop, plain to see); a
 * rolling deployment stops once its readiness delay (Kubernetes `minReadySeconds`) outlasts
 * the compilation, whose time the `route schemas compiled` line reports. Readiness itself does
 * not wait for the compilation (1,095 schemas, 2.5-4 s of CPU): that would undo the quick
 * restart.
 */
export function compileRouteSchemasOrStop(
  app: { compileRouteSchemas(): Promise<{ schemas: number; longestMs: number }> },
  logger: Pick<Logger, 'info' | 'fatal'>,
  stop: () => Promise<void>,
): void {
  const started = performance.now();
  const cpu = process.cpuUsage();
  app.compileRouteSchemas().then(
    ({ schemas, longestMs }) => {
      const { user, system } = process.cpuUsage(cpu);
      logger.info(
        {
          schemas,
          longestMs,
          wallMs: Math.round(performance.now() - started),
          // The process's, requests and background work included.
          processCpuMs: Math.round((user + system) / 1000),
        },
        'route schemas compiled',
      );
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'a route schema does not compile: stopping the service');
      void stop();
    },
  );
}
