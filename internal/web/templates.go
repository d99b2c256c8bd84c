package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/imapmigrate/imapmigrate/internal/size"
)

// The templates and static files are part of the binary: the console needs
// no files beside it and no network (the machine may be offline).
var (
	//go:embed templates/*.html
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// pages maps each page to its template file. Every page is parsed with
// layout.html (which calls the page's "content"), partials.html,
// verification.html and welcome.html.
var pages = map[string]string{
	"login":         "login.html",
	"error":         "error.html",
	"batches":       "batches.html",
	"batch-new":     "batch_new.html",
	"batch":         "batch.html",
	"confirm":       "confirm.html",
	"user":          "user.html",
	"endpoints":     "endpoints.html",
	"endpoint-edit": "endpoint_edit.html",
}

// parsePages parses every page, and checks that each defines "content"
// and that no template file is left out of the map: a typo is an error at
// start, not a broken page later.
func parsePages(assets map[string]asset) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"static": func(name string) (string, error) {
			a, ok := assets[name]
			if !ok {
				return "", fmt.Errorf("no static file %q", name)
			}
			return "/static/" + name + "?v=" + a.etag[1:13], nil
		},
		"pathEsc":     url.PathEscape,
		"queryEsc":    url.QueryEscape,
		"time":        formatAnyTime,
		"bytes":       size.Format,
		"join":        strings.Join,
		"actionLabel": actionLabel,
	}
	used := map[string]bool{"layout.html": true, "partials.html": true, "verification.html": true, "welcome.html": true}
	out := map[string]*template.Template{}
	for name, file := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html",
			"templates/verification.html", "templates/welcome.html", "templates/"+file)
		if err != nil {
			return nil, fmt.Errorf("web console: template %s: %w", file, err)
		}
		for _, must := range []string{"layout", "content"} {
			if t.Lookup(must) == nil {
				return nil, fmt.Errorf("web console: template %s: no %q defined", file, must)
			}
		}
		used[file] = true
		out[name] = t
	}
	files, _ := fs.Glob(templateFS, "templates/*.html")
	for _, f := range files {
		if !used[path.Base(f)] {
			return nil, fmt.Errorf("web console: template %s is in no page", f)
		}
	}
	return out, nil
}

// asset is one static file, with its ETag (a hash of its contents).
type asset struct {
	data  []byte
	etag  string
	ctype string
}

func loadAssets() (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		out[path.Base(p)] = asset{data: b, etag: `"` + hex.EncodeToString(sum[:]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web console: static files: %w", err)
	}
	return out, nil
}

// static serves a static file. Pages link to "/static/NAME?v=HASH", so a
// browser may keep a file as long as it likes: a new binary with a changed
// file links to a new URL.
func (h *handler) static(c *call) error {
	a, ok := h.assets[c.r.PathValue("file")]
	if !ok {
		http.NotFound(c.w, c.r)
		return nil
	}
	hd := c.w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	if v := c.r.URL.Query().Get("v"); v != "" && v == a.etag[1:13] {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(c.w, c.r, "", time.Time{}, bytes.NewReader(a.data))
	return nil
}

// formatTime shows a time in the server's zone to the minute, or "—".
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04 MST")
}

// formatAnyTime is formatTime for templates, which hold both time.Time
// and *time.Time.
func formatAnyTime(v any) (string, error) {
	switch t := v.(type) {
	case time.Time:
		return formatTime(&t), nil
	case *time.Time:
		return formatTime(t), nil
	}
	return "", fmt.Errorf("time: %T is not a time", v)
}
