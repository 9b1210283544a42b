import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The console is served by the service under /console (src/console/routes.ts), so every asset
 * URL starts there. `npm run dev -w console` serves it with hot reload and sends API calls to a
 * service on 127.0.0.1:8080 (`npm run dev` in the repository root).
 */
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The budget is checked by console/build.ts (first-load JavaScript, gzipped), not by Vite.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: Object.fromEntries(
      ['/v1', '/openapi.json', '/docs', '/healthz'].map((path) => [path, 'http://127.0.0.1:8080']),
    ),
  },
});
