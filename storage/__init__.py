"""Storage: the bot's database, behind repositories that speak the domain's values.

- `db`: `Database.connect(url)`, write transactions, snapshot reads, `ping()` for readiness;
- `migrate`: `upgrade(url)` (`challenge-bot db upgrade`) and `ensure_schema(url)` on start-up;
- `challenges`: `ChallengeRepository`, storing the engine's decisions with compare-and-set on the version;
- `outbox`: the notifications each decision causes, claimed and delivered with leases;
- `directory`: `DirectoryStore`, the agencies and people the engine asks about;
- `conversations`: `ConversationStore`, references for proactive messages;
- `bot_state`: `SqlStorage`, botbuilder's dialog and conversation state;
- `errors`: `ConflictError`, `NotFound`, `SchemaNotCurrent`, `StateConflictError`.
"""
