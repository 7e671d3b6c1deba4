// The page in a real browser (Debian's Chromium, driven by Playwright), against the whole local
// system that tools/browser-test.sh starts: what a person does, step by step.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const APP = process.env.APP_URL ?? "http://127.0.0.1:3000";
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
});

async function signIn(agentId) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${APP}/`);
  await page.click(`button[data-agent-id="${agentId}"]`);
  await page.waitForSelector("#home:not([hidden])");
  // The home view shows before its summary arrives; the badge is filled with it.
  await page.waitForFunction(() => document.querySelector("#home-summary").textContent !== "");
  return { page, errors };
}

test("an agent sees the badge, opens the list and it resets, and syncs a client", async () => {
  const { page, errors } = await signIn("agent-summit-1");
  const badge = Number(await page.textContent("#badge"));
  assert.ok(badge > 0, `the badge counts new entries (${badge})`);

  await page.click("#tab-at-risk");
  await page.waitForSelector("#at-risk-table tbody tr a");
  await page.waitForFunction(() => document.querySelector("#badge").textContent === "0");
  const rows = await page.$$("#at-risk-table tbody tr");
  assert.ok(rows.length > 0);

  const firstId = await page.textContent("#at-risk-table tbody tr td:nth-child(2)");
  await page.click("#at-risk-table tbody tr:first-child a");
  await page.waitForSelector("#policies:not([hidden]) tbody tr");
  assert.match(await page.textContent("#client-title"), new RegExp(firstId.trim()));
  assert.match(await page.textContent("#client-status"), /risk/i);
  const matches = await page.$$eval("#policies tbody tr td:last-child", (cells) => cells.map((c) => c.textContent));
  assert.ok(matches.every((m) => m === "Yes" || m === "No"));
  assert.deepEqual(errors, []);
});

test("an agent generates an export, watches it finish and downloads the CSV", async () => {
  const { page, errors } = await signIn("agent-summit-2");
  await page.click("#tab-exports");
  await page.click("#export-mine");
  await page.waitForSelector("#export-progress:not([hidden])");
  await page.waitForFunction(() => /succeeded/.test(document.querySelector("#progress-rows").textContent), null, { timeout: 30_000 });
  const rowsWritten = Number((await page.textContent("#progress-rows")).match(/(\d+) rows/)[1]);

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#past-exports li:first-child button.download")]);
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.split("\r\n").filter((l) => l.length > 0);
  assert.equal(lines[0], "Federal Exchange ID,Client Details Page URL,Archived Status");
  assert.equal(lines.length - 1, rowsWritten, "one line per row written, after the header");
  for (const line of lines.slice(1)) assert.match(line, /^\d+,http[^,]+\/clients\/\d+\?plan_year=\d{4},(Archived|Not archived)$/);

  await page.click("#tab-inbox");
  await page.waitForSelector("#emails li");
  assert.match(await page.textContent("#emails"), /Your AOR at-risk export is ready/);
  assert.deepEqual(errors, []);
});

test("every element id on the page is unique, so a selector names one thing", async () => {
  const { page } = await signIn("agent-summit-1");
  const ids = await page.$$eval("[id]", (elements) => elements.map((e) => e.id));
  const repeated = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(repeated, []);
});

test("an admin turns agent exports off, and the agent then sees why they cannot export", async () => {
  const admin = await signIn("admin-summit-east-0");
  await admin.page.click("#tab-settings");
  await admin.page.waitForSelector("#settings:not([hidden])");
  await admin.page.waitForFunction(() => document.querySelector("#agent-exports-enabled").checked);
  await admin.page.uncheck("#agent-exports-enabled");
  await admin.page.waitForFunction(() => /off/.test(document.querySelector("#settings-status").textContent));
  // Admins may still export their agency. The view opens on the hashchange event, after the
  // click returns, so wait for it rather than look at once.
  await admin.page.click("#tab-exports");
  await admin.page.waitForSelector("#export-agency-form:not([hidden])");
  assert.equal(await admin.page.isVisible("#export-agency-submit"), true);
  assert.equal(await admin.page.isVisible("#exports-disabled"), false);

  const agent = await signIn("agent-summit-east-1");
  await agent.page.click("#tab-exports");
  await agent.page.waitForSelector("#exports-disabled:not([hidden])");
  assert.match(await agent.page.textContent("#exports-disabled"), /agency admin has disabled exports/);
  assert.equal(await agent.page.isVisible("#export-mine"), false);
  assert.deepEqual([...admin.errors, ...agent.errors], []);
});
