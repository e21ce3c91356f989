package main

import "syscall"

// freeSpace returns the bytes and inodes free for an unprivileged user in
// the file system of path.
func freeSpace(path string) (bytes, inodes uint64, ok bool) {
	var st syscall.Statfs_t
	if syscall.Statfs(path, &st) != nil {
		return 0, 0, false
	}
	return st.Bavail * uint64(st.Bsize), st.Ffree, true
}
