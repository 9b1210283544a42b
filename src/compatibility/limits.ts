/** Bounds on the work one compatibility check may do: schemas come from API clients. */
export interface CompatibilityLimits {
  /** Most subschemas read from one schema document. Default 20,000. */
  maxNodes: number;
  /** Deepest nesting of the schema document. Default 64. */
  maxDepth: number;
  /** Most pairs of subschemas compared in one check (all passes together). Default 200,000. */
  maxComparisons: number;
  /** Deepest chain of nested comparisons. Default 1,000. */
  maxComparisonDepth: number;
}

export const DEFAULT_COMPATIBILITY_LIMITS: CompatibilityLimits = {
  maxNodes: 20_000,
  maxDepth: 64,
  maxComparisons: 200_000,
  maxComparisonDepth: 1_000,
};

/**
 * A schema the checker cannot judge within its limits (too large, too entangled, or with a
 * reference it cannot resolve). The check then fails closed: see `CHECK_LIMIT_EXCEEDED`.
 */
export class UncheckableSchemaError extends Error {
  override name = 'UncheckableSchemaError';
}
