// The local OpenID Connect provider: what Cognito (or an organisation's IdP) is in AWS. `make dev`,
// `make test` and the browser tests run it, and the page signs in through it exactly as it does in
// AWS — authorization code flow with PKCE (S256), a public client, RS256 ID tokens.
//
// It is panva's oidc-provider (a certified OpenID provider), configured to act as the user pool the
// template creates: the ID token carries `sub`, `email`, `name` and the custom attributes
// `custom:agent_id`, `custom:agency_id` and `custom:role`, and the API reads those claims.
//
// Settings (environment):
//   OIDC_PORT, OIDC_HOST   where it listens (3001, 127.0.0.1); the issuer is http://HOST:PORT
//   OIDC_KEY_FILE          its signing key: made on first start if missing, kept afterwards, so
//                          `tools/token.sh` signs tokens with the very key this issuer publishes
//   OIDC_PEOPLE_FILE       who may sign in: the demo people `devkit seed` wrote (read on each sign-in)
//   OIDC_PAGE_ORIGIN       the page's origin: its /callback and / are the only redirect addresses
//   OIDC_CLIENT_ID         the page's client id (aor-local)
//   OIDC_TOKEN_SECONDS     how long an ID token lasts (3600)

import { createServer } from "node:http";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import Provider from "oidc-provider";

const host = process.env.OIDC_HOST || "127.0.0.1";
const port = Number(process.env.OIDC_PORT || 3001);
const issuer = `http://${host}:${port}`;
const keyFile = required("OIDC_KEY_FILE");
const peopleFile = process.env.OIDC_PEOPLE_FILE || "";
const pageOrigin = process.env.OIDC_PAGE_ORIGIN || "http://127.0.0.1:3000";
const clientId = process.env.OIDC_CLIENT_ID || "aor-local";
const tokenSeconds = Number(process.env.OIDC_TOKEN_SECONDS || 3600);

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc: ${name} is required`);
    process.exit(2);
  }
  return value;
}

// One RSA key, kept in a file beside the other local state: the private JWK the provider signs
// with, and the same key as PEM with its kid for the devkit's token minting.
function signingKey() {
  if (!existsSync(keyFile)) {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const kid = randomUUID();
    const key = {
      kid,
      jwk: { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" },
      pem: privateKey.export({ type: "pkcs1", format: "pem" }),
    };
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, JSON.stringify(key, null, 2), { mode: 0o600 });
  }
  return JSON.parse(readFileSync(keyFile, "utf8")).jwk;
}

// The people who may sign in, as the seed wrote them; read afresh so a later seed counts.
function people() {
  if (!peopleFile || !existsSync(peopleFile)) return [];
  return JSON.parse(readFileSync(peopleFile, "utf8")).users || [];
}

const person = (id) => people().find((p) => p.agent_id === id);

// The claims of a person's tokens, named as the template's user pool names them.
function claimsOf(p) {
  return {
    sub: p.agent_id,
    email: p.email,
    name: p.name,
    "custom:agent_id": p.agent_id,
    "custom:agency_id": p.agency_id,
    "custom:role": p.role,
  };
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      application_type: "web",
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: [`${pageOrigin}/callback`],
      post_logout_redirect_uris: [`${pageOrigin}/`],
    },
  ],
  jwks: { keys: [signingKey()] },
  pkce: { methods: ["S256"], required: () => true },
  // Like Cognito: the ID token carries every attribute the app client may read.
  claims: {
    openid: ["sub", "custom:agent_id", "custom:agency_id", "custom:role"],
    email: ["email"],
    profile: ["name"],
  },
  conformIdTokenClaims: false,
  findAccount: async (ctx, id) => {
    const p = person(id);
    return p && { accountId: id, claims: async () => claimsOf(p) };
  },
  // The page is this provider's own first-party client: no consent screen, as with Cognito.
  loadExistingGrant: async (ctx) => {
    const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile");
    grant.addOIDCClaims(["custom:agent_id", "custom:agency_id", "custom:role"]);
    await grant.save();
    return grant;
  },
  clientBasedCORS: (ctx, origin) => origin === pageOrigin,
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    // Signing out at the issuer, as Cognito's /logout does: no question asked.
    rpInitiatedLogout: { enabled: true, logoutSource },
  },
  ttl: { IdToken: tokenSeconds, AccessToken: tokenSeconds, AuthorizationCode: 60, Interaction: 3600, Session: 8 * 3600, Grant: 8 * 3600 },
  cookies: { keys: ["aor-local-oidc-cookies"] },
  renderError: async (ctx, out) => {
    ctx.type = "html";
    ctx.body = page("Sign-in failed", `<p>${escape(out.error)}: ${escape(out.error_description || "")}</p>`);
  },
});

async function logoutSource(ctx, form) {
  ctx.body = page(
    "Signing out",
    `${form}<p>Signing you out…</p><noscript><button form="op.logoutForm" name="logout" value="yes">Sign out</button></noscript>` +
      `<script>var f=document.getElementById("op.logoutForm");var i=document.createElement("input");i.type="hidden";i.name="logout";i.value="yes";f.appendChild(i);f.submit();</script>`,
  );
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} — local sign-in</title>
<style>body{font:16px/1.4 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}button{font:inherit;margin:.2rem 0;padding:.4rem .8rem}ul{list-style:none;padding:0}.quiet{color:#555}</style>
</head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

// The sign-in page: this provider's stand-in for Cognito's hosted sign-in. No passwords: it is a
// local tool, and anyone at this machine may be any demo person.
function loginPage(uid, error) {
  const choices = people()
    .map((p) => `<li><button type="submit" name="login" value="${escape(p.agent_id)}">${escape(p.name)} — ${p.role === "agency_admin" ? "agency admin" : "agent"}, ${escape(p.agency_id)} (${escape(p.agent_id)})</button></li>`)
    .join("");
  return page(
    "Sign in",
    `<p class="quiet">The local OpenID provider of <code>make dev</code>, standing in for your organisation's sign-in. Choose who you are.</p>` +
      (error ? `<p role="alert">${escape(error)}</p>` : "") +
      `<form method="post" action="/interaction/${escape(uid)}/login"><ul>${choices || "<li>No demo people yet: the seed has not run.</li>"}</ul></form>`,
  );
}

async function readForm(req) {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, submitted) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error("interaction mismatch");
  if (!submitted) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    return res.end(loginPage(uid));
  }
  const login = (await readForm(req)).get("login") || "";
  if (!person(login)) {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    return res.end(loginPage(uid, `No one called ${login} may sign in here.`));
  }
  await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
createServer((req, res) => {
  const match = new URL(req.url, issuer).pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return callback(req, res);
  interaction(req, res, match[1], Boolean(match[2]) && req.method === "POST").catch((err) => {
    res.writeHead(400, { "content-type": "text/html; charset=utf-8" });
    res.end(page("Sign-in failed", `<p>${escape(err.message)}. <a href="${escape(pageOrigin)}/">Start again</a>.</p>`));
  });
}).listen(port, host, () => console.log(`oidc: issuer ${issuer}, client ${clientId}, page ${pageOrigin}`));
