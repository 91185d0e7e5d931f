package alert

// DefaultKeyPrefix starts the Redis keys of the engine's claims and
// silences unless EngineOptions.KeyPrefix says otherwise.
const DefaultKeyPrefix = "studio:alert:"
