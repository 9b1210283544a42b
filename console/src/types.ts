import type { components, paths } from '../../src/client/index.ts';

/**
 * The answers the console reads, named once, all derived from the client generated from
 * /openapi.json (`npm run client:generate`): the route schemas that serialise each answer are
 * the source, so a field the service does not send cannot be read here.
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type SuccessStatus = 200 | 201 | 202;

/** The JSON body of a route's successful answer (its 200, 201 or 202). */
export type AnswerBody<
  P extends keyof paths,
  M extends Method & keyof paths[P] = 'get',
> = paths[P][M] extends {
  responses: infer R;
}
  ? R[Extract<keyof R, SuccessStatus>] extends { content: { 'application/json': infer Body } }
    ? Body
    : never
  : never;

type Schemas = components['schemas'];

export type StoredEvent = Schemas['StoredEvent'];
export type Trace = AnswerBody<'/v1/events/{eventId}/trace'>;
export type TraceNode = Schemas['TraceNode'];
export type Firing = Schemas['TriggerFiring'];
export type DeliveryAttempt = Schemas['DeliveryAttempt'];
export type Subscription = Schemas['Subscription'];
