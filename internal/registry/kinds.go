package registry

// Kinds returns every kind the API server serves, in discovery order.
func Kinds() []*Kind {
	return []*Kind{
		configMaps(),
	}
}
