/** Kysely's view of the tables; timestamps are ISO-8601 text so both SQLite and Postgres sort them alike. */
export interface Database {
  sessions: {
    id: string;
    owner: string;
    title: string | null;
    message_count: number;
    busy_until: string | null;
    created_at: string;
    updated_at: string;
  };
  messages: {
    session_id: string;
    seq: number;
    role: string;
    data: string;
    created_at: string;
  };
}
