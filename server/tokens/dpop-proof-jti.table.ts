/** RFC 9449 §11.1: proof jtis seen recently (a hash of key thumbprint and jti), when there is no Redis. */
export interface DpopProofJtisTable {
  id: string
  expires_at: number
}
