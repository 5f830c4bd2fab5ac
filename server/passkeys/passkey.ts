/** A registered passkey, as the rest of the code sees it. */
export interface Passkey {
  id: string
  userId: string
  credentialId: string
  publicKey: Uint8Array<ArrayBuffer>
  signCount: number
  transports: string[]
  /** BE flag: the credential may be synced to other devices (a "multi-device" passkey). */
  backupEligible: boolean
  /** BS flag: the credential is currently backed up. */
  backedUp: boolean
  name: string
  createdAt: number
  lastUsedAt: number | null
}
