package formats

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The union of the two public lists, as API-NOTES.md settles it.
func TestExtensionsAreTheUnionOfThePublicLists(t *testing.T) {
	want := []string{
		"pdf", "doc", "docx", "ppt", "pptx", "xls", "xlsx", "csv", "txt", "md", "markdown",
		"html", "htm", "xhtml", "rtf", "odt", "ods", "odp", "json", "yaml", "yml", "jpg", "jpeg", "png",
	}
	got := Extensions()
	assert.ElementsMatch(t, want, got)
	assert.Len(t, got, len(want), "no duplicates")
}

func TestSupported(t *testing.T) {
	for _, e := range []string{"pdf", "PDF", ".docx", "Markdown", "yml"} {
		assert.True(t, Supported(e), e)
	}
	for _, e := range []string{"", ".", "exe", "tmp", "pdf.exe", "tar.gz"} {
		assert.False(t, Supported(e), e)
	}
}

func TestExtensionsIsACopy(t *testing.T) {
	a := Extensions()
	a[0] = "exe"
	assert.True(t, slices.Contains(Extensions(), "pdf"))
	assert.False(t, Supported("exe"))
}
