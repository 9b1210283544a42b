import { type ErrorDetail, fieldError } from '../errors.ts';

/**
 * Why a pattern, condition, path or input mapping was refused. Callers turn it into a 400
 * detail with the request field it came from, e.g. `error.toDetail('eventCondition')`.
 */
export type ParseErrorCode = 'invalid_pattern' | 'invalid_expression' | 'invalid_path';

export class ParseError extends Error {
  override name = 'ParseError';
  constructor(
    readonly code: ParseErrorCode,
    /** What is wrong, without the position: the message appends it. */
    readonly reason: string,
    /** Zero-based offset in the text where the problem was found. */
    readonly position: number,
  ) {
    super(`${reason} at position ${position}`);
  }

  toDetail(field: string): ErrorDetail {
    return fieldError(field, this.code, this.message);
  }
}
