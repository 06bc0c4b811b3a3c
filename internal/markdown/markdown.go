// Package markdown renders article bodies to HTML that is safe to insert into a page.
package markdown

import (
	"bytes"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

var (
	// Raw HTML in the markdown is left out by goldmark (no WithUnsafe); the sanitiser
	// behind it is the guarantee, whatever the renderer lets through.
	md     = goldmark.New(goldmark.WithExtensions(extension.GFM))
	policy = newPolicy()
)

func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	return p
}

// HTML renders CommonMark (with GitHub tables, strikethrough, task lists and autolinks)
// and sanitises the result: no scripts, styles, frames or event handlers, and links only
// to http, https and mailto.
func HTML(src string) string {
	var buf bytes.Buffer
	if err := md.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails on a failing writer; a bytes.Buffer does not fail.
		return ""
	}
	return policy.Sanitize(buf.String())
}
