package plugins

// ChildAnswersFD is the descriptor a plugin process writes its answers
// to, for the tests that write garbage there.
const ChildAnswersFD = childAnswersFD

// Pick is Pool.pick, for BenchmarkPool.
func Pick(pl *Pool) int { return pl.pick() }

// DataProtocolFromEnv is dataProtocolFromEnv, for the faulty plugin.
func DataProtocolFromEnv() int { return dataProtocolFromEnv() }

// AppendAnswerEnvelope appends an answer envelope for id around body, for
// the faulty plugin.
func AppendAnswerEnvelope(dst []byte, id uint64, body []byte) []byte {
	start := len(dst)
	dst = append(appendEnvHeader(dst, envAnswer, id), body...)
	setEnvLength(dst, start)
	return dst
}
