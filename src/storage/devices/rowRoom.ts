import { sql, type RawBuilder } from 'kysely';

/**
 * Room kept in a device row for what a claim writes into it. A free device
 * row is inserted into a page that fills up; a claim adds an instance and a
 * consumer UUID (and a PF's status grows to "unavailable"), and SQLite, which
 * has no fill factor, then rebalances the full page with its neighbours and
 * parent: four pages written instead of one. `reserved` holds spaces while
 * the row is free and gives them up when it is claimed, so status,
 * instance_uuid, consumer and reserved together keep one length.
 *
 * Only the device writes (deviceWrites.ts) use it: every write there that
 * sets status, instance_uuid or consumer sets reserved from them.
 */
export const DEVICE_ROW_VARIABLE_WIDTH = 'unavailable'.length + 36 + 36;

export function reservedRoom(status: string, instanceUuid: string | null, consumer: string | null): string | null {
  const room = DEVICE_ROW_VARIABLE_WIDTH - status.length - (instanceUuid?.length ?? 0) - (consumer?.length ?? 0);
  return room > 0 ? ' '.repeat(room) : null;
}

const SPACES = ' '.repeat(DEVICE_ROW_VARIABLE_WIDTH);

/**
 * reservedRoom as SQL over each row's own status and instance_uuid, for a
 * write that gives many rows the consumer `consumer` (a relabel): the same
 * spaces, or null when there is no room left. Same text on both backends.
 */
export function reservedRoomForConsumerSql(consumer: string): RawBuilder<string | null> {
  const left = DEVICE_ROW_VARIABLE_WIDTH - consumer.length;
  const room = sql`${sql.lit(left)} - length(status) - coalesce(length(instance_uuid), 0)`;
  return sql<string | null>`case when ${room} > 0 then substr(${SPACES}, 1, ${room}) end`;
}
