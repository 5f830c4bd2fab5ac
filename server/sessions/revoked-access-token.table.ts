/** Access tokens revoked one by one (RFC 7009), kept until they expire. */
export interface RevokedAccessTokensTable {
  jti: string
  expires_at: number
  revoked_at: number
}
