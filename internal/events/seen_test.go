package events

import "testing"

func TestSeen(t *testing.T) {
	t.Parallel()
	var s seen
	if s.delivered(1) || s.forgotten(1) {
		t.Fatal("an empty memory knows id 1")
	}
	for _, id := range []int64{5, 3, 9} {
		s.mark(id)
	}
	for id, want := range map[int64]bool{3: true, 4: false, 5: true, 8: false, 9: true, 10: false} {
		if got := s.delivered(id); got != want {
			t.Errorf("delivered(%d) = %v, want %v", id, got, want)
		}
	}
	// A step of less than the window keeps what is still in it and frees the slots it
	// reuses; the ids left behind are forgotten.
	s.mark(seenWindow + 4)
	for id, want := range map[int64]bool{3: false, 4: false, 5: true, 9: true, seenWindow + 3: false, seenWindow + 4: true} {
		if got := s.delivered(id); got != want {
			t.Errorf("after a step: delivered(%d) = %v, want %v", id, got, want)
		}
	}
	if !s.forgotten(4) || s.forgotten(5) {
		t.Error("forgotten is not the window's lower end")
	}
	s.mark(3) // too old to mark
	if s.delivered(3) {
		t.Error("a forgotten id was marked")
	}
	// A step beyond the window forgets everything before.
	s.mark(3*seenWindow + 1)
	if s.delivered(5) || s.delivered(seenWindow+4) || !s.delivered(3*seenWindow+1) {
		t.Error("a jump past the window kept old ids")
	}
	if s.delivered(2*seenWindow + 5) {
		t.Error("a slot reused after a jump kept its old bit")
	}
}
