-- The W3C traceparent of the span that received the event (`event.receive`): the parent of the
-- spans of its firings and deliveries, so a tracing backend draws them in one tree under the
-- request that published it. NULL for events stored before this column existed (their routing
-- spans start traces of their own). A nullable column without a default: no table rewrite.
ALTER TABLE events ADD COLUMN receive_traceparent text;
