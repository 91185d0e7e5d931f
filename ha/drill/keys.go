package drill

// KeyPrefix starts the keys the drill's workload writes (each expires on
// its own).
const KeyPrefix = "studio:drill:"
