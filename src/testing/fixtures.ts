/** The spec's booking example, as a publisher would register it. */
export const bookingDefinition = () => ({
  event_id: 'BookingEvents.created',
  name: 'Booking Created',
  description: 'A customer booked an appointment',
  pattern: 'bookings.created',
  version: '1.0.0',
  source_types: ['workflow', 'integration'],
  payload_schema: {
    type: 'object',
    required: ['bookingId', 'customerId'],
    properties: {
      bookingId: { type: 'string' },
      customerId: { type: 'string' },
      amount: { type: 'number', minimum: 0 },
      status: { type: 'string', enum: ['pending', 'confirmed'] },
    },
  },
  examples: [{ bookingId: 'bk_1', customerId: 'cu_1', amount: 120, status: 'confirmed' }],
  ui_metadata: { icon: 'calendar', color: '#4CAF50', category: 'bookings', priority: 'high' },
});

/** A booking event that satisfies {@link bookingDefinition}. */
export const bookingEvent = (overrides: Record<string, unknown> = {}) => ({
  pattern: 'bookings.created',
  source: { type: 'workflow', id: 'wf-42', name: 'Booking flow' },
  payload: { bookingId: 'bk_1', customerId: 'cu_1', amount: 120, status: 'confirmed' },
  ...overrides,
});

/** A permissive definition for routing tests: any payload, no source required. */
export const openDefinition = (pattern: string, examples: unknown[] = []) => ({
  event_id: `${pattern}.event`,
  name: pattern,
  pattern,
  version: '1.0.0',
  payload_schema: { type: 'object' },
  examples,
});
