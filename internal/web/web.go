package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var files embed.FS

// Static returns the dashboard's files, rooted at static/.
func Static() fs.FS {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// Handler serves the dashboard. The files are public; the data the page loads
// goes through the API and its token. A directory other than / is not
// listed (404): the page names every file it needs.
func Handler() http.Handler {
	files := http.FileServerFS(Static())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "/" && (strings.HasSuffix(p, "/") || isDir(strings.TrimPrefix(p, "/"))) {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

func isDir(name string) bool {
	fi, err := fs.Stat(Static(), strings.TrimSuffix(name, "/"))
	return err == nil && fi.IsDir()
}
