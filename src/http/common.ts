/** Route schema pieces shared by the capabilities' routes. */

/**
 * Skipping rows costs the database work proportional to the offset: deeper pages are refused
 * rather than letting one request scan without bound (GET /v1/events pages by cursor instead).
 */
export const MAX_OFFSET = 100_000;

export const paginationQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  offset: {
    type: 'integer',
    minimum: 0,
    maximum: MAX_OFFSET,
    default: 0,
    description: `at most ${MAX_OFFSET.toLocaleString('en')}; narrow the filter to reach further`,
  },
} as const;

export const paginationSchema = {
  type: 'object',
  properties: {
    total: { type: 'integer' },
    limit: { type: 'integer' },
    offset: { type: 'integer' },
    hasMore: { type: 'boolean' },
  },
} as const;

export interface Pagination {
  total: number;
  limit: number;
  offset: number;
  hasMore: boolean;
}

export const pagination = (
  total: number,
  limit: number,
  offset: number,
  returned: number,
): Pagination => ({
  total,
  limit,
  offset,
  hasMore: offset + returned < total,
});

export const errorResponseSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              field: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const;
