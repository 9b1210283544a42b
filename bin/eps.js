#!/usr/bin/env node
// The `eps` command (package.json "bin"): runs the TypeScript source through tsx's loader, so a
// checkout needs no build step (`npx eps …`, `npm run eps -- …`).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/eps.ts');
await main();
