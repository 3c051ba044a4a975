package web

import (
	"embed"
	"io/fs"
	"net/http"
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
// goes through the API and its token.
func Handler() http.Handler {
	return http.FileServerFS(Static())
}
