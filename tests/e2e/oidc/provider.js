// A loopback OpenID Provider for the end-to-end suite: oidc-provider (a certified implementation) with one
// client (Allocator), its development login and consent pages, and one account that has an email.
//
//   OIDC_PORT=18300 OIDC_REDIRECT_URI=http://127.0.0.1:8000/oidc/callback/ node provider.js
//
// Prints "listening <issuer>" once it answers. Sign in with the login "nina" and any password.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT || 18300);
const issuer = `http://127.0.0.1:${port}`;

const accounts = {
  nina: { email: 'Nina.Newcomer@example.com', email_verified: true, name: 'Nina Newcomer' },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID || 'allocator-e2e',
      client_secret: process.env.OIDC_CLIENT_SECRET || 'allocator-e2e-secret',
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  cookies: { keys: ['e2e-only-not-a-secret'] },
  features: { devInteractions: { enabled: true } },
});

provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
