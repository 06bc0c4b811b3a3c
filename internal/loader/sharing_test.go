package loader

import (
	"reflect"
	"strings"
	"testing"

	"inkwell/internal/auth"
)

func TestSharingTakesOnlyViewerLoadersFromOwn(t *testing.T) {
	shared, own := New(nil, auth.Viewer{}, nil), New(nil, auth.Viewer{UserID: 7}, nil)
	got := reflect.ValueOf(Sharing(shared, own)).Elem()
	s, o := reflect.ValueOf(shared).Elem(), reflect.ValueOf(own).Elem()
	viewer := 0
	for i := range got.NumField() {
		name := got.Type().Field(i).Name
		want := s.Field(i).Pointer()
		if strings.HasPrefix(name, "Viewer") {
			want = o.Field(i).Pointer()
			viewer++
		}
		if got.Field(i).Pointer() != want {
			t.Errorf("%s is not the one it should be", name)
		}
	}
	if viewer != 4 {
		t.Errorf("%d Viewer… loaders, want ViewerHasFavorited, ViewerHasBookmarked, ViewerIsFollowing and ViewerFollowsTag", viewer)
	}
}
