package eventstore

// StartOffsetter is a PartitionHandler that keeps state outside the log and
// can tell that the state lost writes it had made (a store that came back
// from an older backup, or lost its last second in a crash). Its partition
// then has to be read again from where the state really is, though the
// group committed more: the subscriber calls StartOffset once, before the
// handler's first batch, with the group's committed offset (or
// kafka.FirstOffset when the group has none), and starts reading at the
// offset it returns. Returning committed keeps the usual start; an offset
// after committed, or another negative one, is ignored, since skipping
// records the group did not commit would lose them.
type StartOffsetter interface {
	StartOffset(committed int64) int64
}

// startOffset is where a partition handled by h starts, given the
// committed offset of its assignment.
func startOffset(h PartitionHandler, committed int64) int64 {
	so, ok := h.(StartOffsetter)
	if !ok || committed < 0 {
		return committed
	}
	if o := so.StartOffset(committed); o >= 0 && o < committed {
		return o
	}
	return committed
}
