import { describe, expect, it } from 'vitest';
import { generateTypes, typeName } from './codegen.ts';

describe('codegen', () => {
  it('names a type by pattern and version', () => {
    expect(typeName('bookings.created', '1.0.0')).toBe('BookingsCreatedV1_0_0');
    expect(typeName('3d.print-job', '2.1.0-rc.1')).toBe('E3dPrintJobV2_1_0_rc_1');
  });

  it('reads no file or URL a schema points at', async () => {
    const schema = { type: 'object', properties: { secret: { $ref: '/etc/hostname' } } };
    await expect(
      generateTypes([{ pattern: 'a.b', version: '1.0.0', payload_schema: schema }], 'test'),
    ).rejects.toThrow(/should have been resolved/);
  });
});
