import type { Client } from '../../clients/client.js'
import type { Deps } from '../../deps.js'
import { UnauthorizedClient } from '../../errors.js'
import { issueAccessToken } from '../access-token.js'
import { resolveAudience } from '../../clients/audience.js'
import { grantScopes } from '../../clients/scope.js'
import type { TokenRequest, TokenResponse } from '../token.schema.js'
import { tokenTypeFor, type DpopBinding } from '../dpop-token-request.js'

/** RFC 6749 §4.4: the client acts on its own behalf, so the token's subject is the client. */
export async function clientCredentialsGrant(
  deps: Pick<Deps, 'keystore' | 'config' | 'clock'>,
  client: Client,
  params: TokenRequest,
  dpop?: DpopBinding,
): Promise<TokenResponse> {
  if (client.type !== 'confidential' || !client.grantTypes.includes('client_credentials')) {
    throw new UnauthorizedClient('this client may not use the client_credentials grant')
  }
  const scopes = grantScopes(params.scope, client.scopes)
  const audience = resolveAudience(params.resource, client, deps.config.defaultAudience)
  const issued = await issueAccessToken(deps, {
    subject: client.id,
    clientId: client.id,
    audience,
    scopes,
    dpopJkt: dpop?.jkt,
  })
  return {
    access_token: issued.token,
    token_type: tokenTypeFor(dpop),
    expires_in: issued.expiresIn,
    ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
  }
}
