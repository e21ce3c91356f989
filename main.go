// Command paradigm-upload uploads a directory tree of documents into a
// LightOn Paradigm workspace through the V3 Files API.
package main

import (
	"os"

	"github.com/paradigm-upload/paradigm-upload/cmd"
)

func main() { os.Exit(cmd.Main()) }
