// Package docs holds the repository's own documentation (reference.md, analysts.md). Its test
// holds every Markdown file of the repository to links that resolve inside the repository: the
// repository must stand alone, so no file may point outside it.
package docs
