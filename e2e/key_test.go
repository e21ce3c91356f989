package e2e

// key is the API key of the devservers the tests start (every platform:
// secrets_test.go uses it too).
const key = "e2e-secret-key-000"
