export interface AuditEventsTable {
  id: string
  event: string
  user_id: string | null
  client_id: string | null
  session_id: string | null
  ip: string | null
  /** JSON object of further facts; never a secret, token or password. */
  details: string | null
  created_at: number
}
