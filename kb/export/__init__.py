"""Read side: the graph and its tables written in other formats (RDF dumps, CSV, GraphML, …), one module per format."""
