// Browser tests of the console and the member centre, against a running server.
//
//   LOYALTY_BASE_URL=http://127.0.0.1:PORT LOYALTY_ADMIN_KEY=… node run.mjs
//
// Started by crates/loyalty/tests/browser.rs on a fresh SQLite database. Drives Debian's
// Chromium (CHROMIUM, default /usr/bin/chromium) headless through playwright-core, seeds what
// it needs through the API, and exits non-zero on the first failed step. Screenshots of the
// main pages go to LOYALTY_ARTIFACTS (default target/browser-artifacts).

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const BASE = process.env.LOYALTY_BASE_URL;
const ADMIN = process.env.LOYALTY_ADMIN_KEY;
const ARTIFACTS = process.env.LOYALTY_ARTIFACTS || "target/browser-artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(BASE && ADMIN, "LOYALTY_BASE_URL and LOYALTY_ADMIN_KEY must be set");
mkdirSync(ARTIFACTS, { recursive: true });

let passed = 0;
let failed = 0;
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
    throw e;
  }
}

/// The API, with a key.
async function api(method, path, key, body) {
  const resp = await fetch(BASE + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: resp.status, body: json };
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/// The programme's data the pages show: members with orders and contacts, a coupon.
async function seed() {
  const daysAgo = (d) => new Date(Date.now() - d * 86400000).toISOString();
  const members = [
    ["ling", { name: "林小玲", phone: "+86 139-0000-1234", email: "Ling@Example.com" }],
    ["wei", { name: "王伟", phone: "13800138000" }],
    ["mei", { name: "李梅" }],
  ];
  for (const [id, profile] of members) {
    const r = await api("PUT", `/v1/members/${id}`, ADMIN, profile);
    assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r));
  }
  // ling: ¥2,400 of goods in two orders 20 days ago → growth 1,520 (silver, 3,480 to gold).
  const orders = [["o-1", "ling", 150000, 20], ["o-2", "ling", 90000, 20], ["o-3", "wei", 30000, 12], ["o-4", "mei", 8800, 3]];
  for (const [id, member, paid, ago] of orders) {
    const r = await api("POST", "/v1/orders", ADMIN, {
      id, member_id: member, paid_at: daysAgo(ago), currency: "CNY", shipping_minor: 0,
      lines: [{ sku: "SKU-" + id, category: "beauty", quantity: 1, unit_price_minor: paid, paid_minor: paid }],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  const t = await api("POST", "/v1/coupon-templates", ADMIN, {
    id: "spring-200-20", name: "满200减20", benefit: { kind: "amount_off", value_minor: 2000, threshold_minor: 20000 },
    validity: { relative: { days: 30, end_of_day: true } }, stock: 1000, limits: { lifetime: 1 },
  });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  const c = await api("POST", "/v1/members/ling/coupons", ADMIN, { template: "spring-200-20", source: "issue", id: "ling-spring" });
  assert.equal(c.status, 201, JSON.stringify(c.body));
}

async function signIn(page, key, { here = false } = {}) {
  if (!here) await page.goto(BASE + "/console/login");
  await page.fill("#key", key);
  await Promise.all([page.waitForLoadState("load"), page.click("[data-test=sign-in]")]);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let integrationKey;
try {
  await step("seed members, orders and a coupon through the API", seed);
  const ctx = await browser.newContext({ locale: "zh-CN", viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();

  await step("a console page without a session goes to the sign-in page", async () => {
    await page.goto(BASE + "/console/members");
    assert.match(page.url(), /\/console\/login\?next=%2Fconsole%2Fmembers/);
    await shot(page, "01-login");
  });

  await step("a wrong key is refused with a sentence", async () => {
    await signIn(page, "lk_not_a_key");
    assert.match(page.url(), /\/console\/login/);
    const error = await page.textContent("[data-test=login-error]");
    assert.match(error, /无效|吊销/);
  });

  await step("an admin key signs in (to the page it came for)", async () => {
    await page.goto(BASE + "/console/members");
    await signIn(page, ADMIN, { here: true });
    assert.match(page.url(), /\/console\/members$/);
    assert.equal(await page.textContent("[data-test=operator]"), "bootstrap-admin");
  });

  await step("the dashboard shows charts and the API's figures", async () => {
    await page.goto(BASE + "/console?granularity=day");
    for (const chart of ["chart-points", "chart-members", "chart-tiers"]) {
      const svg = page.locator(`[data-test=${chart}] svg`);
      assert.equal(await svg.count(), 1, chart);
      const box = await svg.boundingBox();
      assert.ok(box && box.width > 200 && box.height > 100, `${chart} is drawn: ${JSON.stringify(box)}`);
    }
    const from = await page.inputValue("input[name=from]");
    const to = await page.inputValue("input[name=to]");
    const kpis = await api("GET", `/v1/kpis?from=${from}&to=${to}&granularity=day`, ADMIN);
    assert.equal(kpis.status, 200);
    const last = kpis.body.periods[kpis.body.periods.length - 1];
    const tile = async (k) => Number(await page.getAttribute(`[data-test=tiles] [data-kpi="${k}"]`, "data-value"));
    assert.equal(await tile("members_total"), last.members_total);
    assert.equal(await tile("points.issued"), last.points.issued);
    assert.equal(await tile("points.outstanding"), last.points.outstanding);
    assert.equal(await tile("liability_minor"), last.liability_minor);
    assert.equal(last.members_total, 3);
    for (const p of kpis.body.periods) {
      const row = page.locator(`[data-test=periods] tr[data-period="${p.period}"]`);
      const cell = async (k) => Number(await row.locator(`[data-kpi="${k}"]`).getAttribute("data-value"));
      assert.equal(await cell("new_members"), p.new_members, p.period);
      assert.equal(await cell("points.issued"), p.points.issued, p.period);
      assert.equal(await cell("points.redeemed"), p.points.redeemed, p.period);
      assert.equal(await cell("points.expired"), p.points.expired, p.period);
    }
    // The visible text is the same figure, grouped.
    const shown = (await page.textContent('[data-test=tiles] [data-kpi="points.issued"]')).replaceAll(",", "");
    assert.equal(Number(shown), last.points.issued);
    assert.equal(await page.locator("[data-test=coupons] tr[data-template=spring-200-20]").count(), 1);
    await shot(page, "02-dashboard");
    await page.goto(BASE + "/console?granularity=day&lang=en");
    assert.equal(await page.textContent("h1"), "Dashboard");
    await shot(page, "02-dashboard-en");
    await page.goto(BASE + "/console?lang=zh");
  });

  await step("a member is found by phone and opens on its page", async () => {
    await page.goto(BASE + "/console/members");
    await shot(page, "03-members");
    await page.fill("[data-test=search]", "139 0000 1234");
    await Promise.all([page.waitForURL(/\/console\/members\/ling$/), page.press("[data-test=search]", "Enter")]);
    assert.equal(await page.textContent("[data-test=member-id]"), "ling");
    const tier = await api("GET", "/v1/members/ling/tier", ADMIN);
    assert.equal(await page.textContent("[data-test=tier]"), tier.body.tier.name);
    assert.equal(await page.textContent("[data-test=to-next]"), tier.body.next_tier.message);
  });

  await step("bad input names the field and writes nothing", async () => {
    const before = await api("GET", "/v1/members/ling/ledger", ADMIN);
    await page.fill("#points", "abc");
    await page.fill("#reason", "");
    await page.click("[data-test=adjust-submit]");
    await page.waitForSelector("[data-test=error-points]");
    assert.match(await page.textContent("[data-test=error-points]"), /不是整数/);
    assert.match(await page.textContent("[data-test=error-reason]"), /原因/);
    const after = await api("GET", "/v1/members/ling/ledger", ADMIN);
    assert.equal(after.body.items.length, before.body.items.length);
  });

  await step("adjusting points shows the new entry in the ledger", async () => {
    const before = Number(await page.getAttribute("[data-test=available]", "data-value"));
    await page.fill("#points", "120");
    await page.fill("#reason", "客诉补偿");
    await Promise.all([page.waitForURL(/adjusted=/), page.click("[data-test=adjust-submit]")]);
    await page.waitForSelector("[data-test=adjusted]");
    const first = page.locator("[data-test=ledger] tbody tr").first();
    assert.equal(await first.locator("td.n").first().getAttribute("data-value"), "120");
    assert.match(await first.textContent(), /客诉补偿/);
    assert.equal(Number(await page.getAttribute("[data-test=available]", "data-value")), before + 120);
    assert.match(await page.textContent("[data-test=audit]"), /bootstrap-admin/);
    const m = await api("GET", "/v1/members/ling", ADMIN);
    assert.equal(m.body.balances.available, before + 120);
    await shot(page, "04-member");
  });

  await step("an API key is created (shown once) and another revoked", async () => {
    await page.goto(BASE + "/console/keys");
    await page.fill("#key-name", "shop-checkout");
    await page.selectOption("#key-scope", "integration");
    await page.click("[data-test=create-key]");
    await page.waitForSelector("[data-test=secret]");
    integrationKey = (await page.textContent("[data-test=secret]")).trim();
    assert.match(integrationKey, /^lk_[0-9a-f]{64}$/);
    await shot(page, "05-keys-created");
    const works = await api("GET", "/v1/members/ling", integrationKey);
    assert.equal(works.status, 200);
    await page.fill("#key-name", "old-report");
    await page.selectOption("#key-scope", "analyst");
    await page.click("[data-test=create-key]");
    await page.waitForSelector("[data-test=secret]");
    const old = (await page.textContent("[data-test=secret]")).trim();
    await page.goto(BASE + "/console/keys");
    assert.equal(await page.locator("[data-test=secret]").count(), 0, "never shown again");
    page.once("dialog", (d) => d.accept());
    await Promise.all([page.waitForURL(/revoked=old-report/), page.click("tr[data-key=old-report] [data-test=revoke]")]);
    assert.equal(await page.locator("tr[data-key=old-report].revoked").count(), 1);
    assert.equal((await api("GET", "/v1/kpis", old)).status, 401);
    await shot(page, "06-keys");
  });

  await step("an integration key cannot open the console", async () => {
    const other = await browser.newContext({ locale: "zh-CN" });
    const p = await other.newPage();
    await signIn(p, integrationKey);
    assert.match(p.url(), /\/console\/login/);
    assert.match(await p.textContent("[data-test=login-error]"), /integration/);
    await p.goto(BASE + "/console");
    assert.match(p.url(), /\/console\/login/);
    await other.close();
  });

  await step("signing out ends the session", async () => {
    await page.goto(BASE + "/console");
    await Promise.all([page.waitForURL(/why=signed_out/), page.click("[data-test=sign-out]")]);
    await page.goto(BASE + "/console");
    assert.match(page.url(), /\/console\/login/);
  });

  await step("the member centre at phone width shows the tier, progress and points", async () => {
    const phone = await browser.newContext({ locale: "zh-CN", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    const session = await api("POST", "/v1/members/ling/sessions", integrationKey, {});
    assert.equal(session.status, 201, JSON.stringify(session.body));
    await p.goto(BASE + session.body.url);
    assert.match(p.url(), /\/member$/, "the token left the URL");
    const tier = await api("GET", "/v1/members/ling/tier", ADMIN);
    const member = await api("GET", "/v1/members/ling", ADMIN);
    assert.equal(await p.textContent("[data-test=tier-name]"), tier.body.tier.name);
    assert.equal(await p.textContent("[data-test=to-next]"), tier.body.next_tier.message);
    assert.match(tier.body.next_tier.message, /^还差 \d+ 成长值升级/);
    const progress = Number(await p.getAttribute("[data-test=progress]", "aria-valuenow"));
    assert.equal(progress, Math.floor((tier.body.growth_in_window * 100) / tier.body.next_tier.entry));
    assert.equal(Number(await p.getAttribute("[data-test=available]", "data-value")), member.body.balances.available);
    assert.equal(Number(await p.getAttribute("[data-test=pending]", "data-value")), member.body.balances.pending);
    const width = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling at phone width (${width}px)`);
    await shot(p, "07-member-centre");

    await step("a check-in from the page is recorded once", async () => {
      await Promise.all([p.waitForURL(/checkin=done/), p.click("[data-test=checkin-button]")]);
      assert.match(await p.textContent("[data-test=notice]"), /签到成功/);
      await shot(p, "08-member-checked-in");
      await Promise.all([p.waitForURL(/checkin=already/), p.click("[data-test=checkin-button]")]);
      assert.match(await p.textContent("[data-test=notice]"), /已经签到/);
      const cal = await api("GET", "/v1/members/ling/checkins", ADMIN);
      assert.equal(cal.body.days.length, 1);
      assert.equal(cal.body.checked_in_today, true);
      await shot(p, "09-member-already");
    });

    await step("a member token reads its member and no other", async () => {
      const token = session.body.token;
      const me = await fetch(BASE + "/v1/me", { headers: { authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      assert.equal((await me.json()).member_id, "ling");
      for (const path of ["/v1/members/wei", "/v1/members/wei/ledger", "/v1/members/ling"]) {
        const r = await fetch(BASE + path, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.status, 401, path);
      }
      const [, , exp, mac] = token.split(".");
      const forged = ["lm1", Buffer.from("wei").toString("hex"), exp, mac].join(".");
      const r = await fetch(BASE + "/v1/me", { headers: { authorization: `Bearer ${forged}` } });
      assert.equal(r.status, 401);
      await p.goto(BASE + "/member?token=" + forged);
      assert.match(await p.textContent("[data-test=message]"), /失效/);
    });
    await phone.close();
  });
} finally {
  await browser.close();
  console.log(`${passed} passed, ${failed} failed`);
}
if (failed > 0) process.exit(1);
