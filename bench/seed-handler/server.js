// Seed-handler benchmark baseline — NOT product code.
//
// This is the SendGrid webhook handler from the design seed
// (shared/seeds/000_df0bb8f358e9341d.txt, "Webhook handler for email events"),
// kept as written there — Node + Express + a SQLite file — so that BENCHMARKS.md
// can compare Switchboard against it. Choices that come from the seed:
//   - POST /webhooks/sendgrid takes a JSON array of events and handles them one at a
//     time: for each event, one SELECT and then one INSERT, each its own statement and
//     implicit transaction (no batching, no explicit transaction);
//   - events whose type is not in the seed's interactionTypeMap (e.g. 'processed')
//     are skipped with `continue`;
//   - no signature check (the seed has none); answers 200 when the loop is done.
// One change, as the benchmark brief asks: the SELECT finds the family by email
// (families.primary_email, indexed) instead of finding an earlier send event in
// interaction_log by sg_message_id, so the benchmark needs no prior send events.
// Storage: better-sqlite3 (synchronous API), journal_mode = WAL, synchronous left at
// better-sqlite3's default.
//
// Env: PORT (default 3999), HOST (default 127.0.0.1), SEED_DB (default ./seed.db),
//      SEED_CONTACTS=N pre-inserts families person{i}@example.org for i in 0..N-1.
'use strict';

const path = require('path');
const express = require('express');
const Database = require('better-sqlite3');

const PORT = Number(process.env.PORT || 3999);
const HOST = process.env.HOST || '127.0.0.1';
const DB_PATH = path.resolve(process.env.SEED_DB || './seed.db');
const SEED_CONTACTS = Number(process.env.SEED_CONTACTS || 0);

const db = new Database(DB_PATH);
db.pragma('journal_mode = WAL');

// Schema: the seed's interaction_log (T-SQL there) in SQLite, plus the families
// table it references, keyed by email for the lookup.
db.exec(`
  CREATE TABLE IF NOT EXISTS families (
    family_id     INTEGER PRIMARY KEY,
    primary_email TEXT NOT NULL
  );
  CREATE UNIQUE INDEX IF NOT EXISTS IX_families_primary_email ON families(primary_email);

  CREATE TABLE IF NOT EXISTS interaction_log (
    interaction_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    interaction_timestamp TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    family_id             INTEGER NOT NULL,
    student_id            INTEGER NULL,
    interaction_type      TEXT NOT NULL,
    interaction_category  TEXT NULL,
    channel               TEXT NOT NULL,
    outcome               TEXT NULL,
    metadata              TEXT NULL,
    external_id           TEXT NULL,
    external_system       TEXT NULL,
    created_by            TEXT DEFAULT 'system',
    CONSTRAINT FK_interaction_family FOREIGN KEY (family_id) REFERENCES families(family_id)
  );
  CREATE INDEX IF NOT EXISTS IX_channel ON interaction_log(channel);
  CREATE INDEX IF NOT EXISTS IX_external_id ON interaction_log(external_id);
  CREATE INDEX IF NOT EXISTS IX_external_system ON interaction_log(external_system);
`);

if (SEED_CONTACTS > 0) {
  // Setup only, not the measured path: one transaction for all the contacts.
  const ins = db.prepare('INSERT OR IGNORE INTO families (family_id, primary_email) VALUES (?, ?)');
  db.transaction((n) => {
    for (let i = 0; i < n; i++) ins.run(i + 1, `person${i}@example.org`);
  })(SEED_CONTACTS);
}

const findFamilyByEmail = db.prepare(`
  SELECT family_id
  FROM families
  WHERE primary_email = ?
`);

// The seed's logger.log(...) reduced to its one INSERT.
const insertInteraction = db.prepare(`
  INSERT INTO interaction_log
    (family_id, interaction_type, channel, outcome, external_id, external_system, metadata)
  VALUES (?, ?, ?, ?, ?, ?, ?)
`);

const logger = {
  async log(entry) {
    insertInteraction.run(
      entry.family_id,
      entry.interaction_type,
      entry.channel,
      entry.outcome ?? null,
      entry.external_id ?? null,
      entry.external_system ?? null,
      entry.metadata ? JSON.stringify(entry.metadata) : null,
    );
  },
};

const app = express();
// SendGrid posts batches of events; express.json's 100kb default is too small for big ones.
app.use(express.json({ limit: '10mb' }));

// Webhook endpoint: POST /webhooks/sendgrid (as in the seed)
app.post('/webhooks/sendgrid', async (req, res) => {
  const events = req.body; // Array of events

  for (const event of events) {
    const {
      event: eventType,
      sg_message_id,
      email,
      timestamp,
    } = event;

    // Map SendGrid events to our interaction types
    const interactionTypeMap = {
      'delivered': 'email_delivered',
      'open': 'email_opened',
      'click': 'email_clicked',
      'bounce': 'email_bounced',
      'dropped': 'email_dropped',
      'spamreport': 'email_spam_reported'
    };

    const interactionType = interactionTypeMap[eventType];
    if (!interactionType) continue;

    // Find the family (brief: by email; the seed looked up the original send event)
    const family = findFamilyByEmail.all(email);

    if (family.length > 0) {
      const familyId = family[0].family_id;

      // Log the event
      await logger.log({
        family_id: familyId,
        interaction_type: interactionType,
        channel: 'email',
        outcome: eventType === 'open' || eventType === 'click' ? 'engaged' : eventType,
        external_id: sg_message_id,
        external_system: 'sendgrid',
        metadata: {
          email: email,
          timestamp: timestamp,
          event_data: event
        }
      });
    }
  }

  res.sendStatus(200);
});

const server = app.listen(PORT, HOST, () => {
  const jm = db.pragma('journal_mode', { simple: true });
  const sync = db.pragma('synchronous', { simple: true });
  console.error(`seed-handler: db=${DB_PATH} journal_mode=${jm} synchronous=${sync} families=${db.prepare('SELECT count(*) FROM families').pluck().get()}`);
  console.log(`listening on ${server.address().port}`);
});

function shutdown() {
  server.close(() => { db.close(); process.exit(0); });
  server.closeAllConnections(); // don't wait on idle keep-alive load-generator connections
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
