"""``onecard bench``: a Chenzhou-scale city, the lunch rush over HTTP, the quarter's runs."""
