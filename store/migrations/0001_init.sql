-- 0001: the state the JSON file kept, plus history and usage.
-- Written once for both engines: {{ID}} becomes each engine's
-- auto-increment primary key; times are Unix milliseconds (UTC).

-- One row per conversation key ("guild:ID" or "dm:ID"). Later features add
-- typed columns in new migrations. A NULL budget column inherits the
-- configured default.
CREATE TABLE settings (
	conv_key TEXT PRIMARY KEY,
	voice TEXT NOT NULL DEFAULT '',
	language TEXT NOT NULL DEFAULT '',
	system_instruction TEXT NOT NULL DEFAULT '',
	guild_daily_tokens BIGINT,
	guild_daily_cost_micros BIGINT,
	user_daily_tokens BIGINT,
	user_daily_cost_micros BIGINT,
	updated_at BIGINT NOT NULL
);

CREATE TABLE handles (
	conv_key TEXT PRIMARY KEY,
	handle TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE commands (
	scope TEXT PRIMARY KEY,
	hash TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

CREATE TABLE history (
	id {{ID}},
	conv_key TEXT NOT NULL,
	guild_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	prompt TEXT NOT NULL,
	reply TEXT NOT NULL,
	at BIGINT NOT NULL
);
CREATE INDEX history_conv ON history (conv_key, id);
CREATE INDEX history_guild ON history (guild_id);
CREATE INDEX history_at ON history (at);

CREATE TABLE usage_turns (
	id {{ID}},
	at BIGINT NOT NULL,
	guild_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	user_name TEXT NOT NULL,
	model TEXT NOT NULL,
	modality TEXT NOT NULL,
	prompt_text BIGINT NOT NULL,
	prompt_audio BIGINT NOT NULL,
	prompt_other BIGINT NOT NULL,
	response_text BIGINT NOT NULL,
	response_audio BIGINT NOT NULL,
	thoughts BIGINT NOT NULL,
	total BIGINT NOT NULL,
	cost_micros BIGINT NOT NULL
);
CREATE INDEX usage_guild_at ON usage_turns (guild_id, at);
CREATE INDEX usage_user_at ON usage_turns (user_id, at);

-- Small facts about the store itself (the JSON import's completion).
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
