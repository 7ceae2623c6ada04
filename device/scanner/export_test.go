package scanner

// SentinelForTest lets external tests check Unwrap against the kind.
func (k FrameErrorKind) SentinelForTest() error { return k.sentinel() }
