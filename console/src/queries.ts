import { call, eps } from './api.ts';

/**
 * The lists several pages read, each under one query key, so a page that opens after another
 * shows them from the cache (and a change invalidates them everywhere). The console lists at
 * most 500 of each, in one page.
 */
const all = { params: { query: { limit: 500 } } };

export const triggersQuery = {
  queryKey: ['triggers'],
  queryFn: () => call(eps.GET('/v1/workflow-triggers', all)),
};

export const workflowDefinitionsQuery = {
  queryKey: ['workflow-definitions'],
  queryFn: () => call(eps.GET('/v1/workflow-definitions', all)),
};

export const subscriptionsQuery = {
  queryKey: ['subscriptions'],
  queryFn: () => call(eps.GET('/v1/subscriptions', all)),
};

export const eventProcessorsQuery = {
  queryKey: ['event-processors'],
  queryFn: () => call(eps.GET('/v1/event-processors', all)),
};
