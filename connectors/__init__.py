"""newsbeam's I/O: Kafka source and sink, Avro encodings and files, the embedded broker."""
