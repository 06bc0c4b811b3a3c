package markdown

import (
	"strings"
	"testing"
)

func TestHTML(t *testing.T) {
	for _, tc := range []struct {
		name, src    string
		want, reject []string
	}{
		{"heading and emphasis", "# Hi\n\n*there*", []string{"<h1", "Hi</h1>", "<em>there</em>"}, nil},
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
		{"script tag", "hello <script>alert(1)</script>", []string{"hello"}, []string{"<script", "alert(1)</script>"}},
		{"event handler", `<img src="x" onerror="alert(1)">`, nil, []string{"onerror"}},
		{"javascript link", "[x](javascript:alert(1))", nil, []string{"javascript:"}},
		{"safe link", "[x](https://example.com)", []string{`href="https://example.com"`, "nofollow"}, nil},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, nil, []string{"<iframe"}},
		{"style", "<style>body{}</style>text", nil, []string{"<style"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := HTML(tc.src)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("HTML(%q) = %q, want it to contain %q", tc.src, got, w)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(got, r) {
					t.Errorf("HTML(%q) = %q, must not contain %q", tc.src, got, r)
				}
			}
		})
	}
}
