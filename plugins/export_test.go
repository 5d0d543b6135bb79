package plugins

// ChildAnswersFD is the descriptor a plugin process writes its answers
// to, for the tests that write garbage there.
const ChildAnswersFD = childAnswersFD

// Pick is Pool.pick, for BenchmarkPool.
func Pick(pl *Pool) int { return pl.pick() }
