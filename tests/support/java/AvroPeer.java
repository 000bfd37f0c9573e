// Java Avro as an independent peer for newsbeam's Avro encodings (tests/schemas/).
//   encode SCHEMA.avsc DATUM.json OUT.bin : Avro-JSON datum -> single-object message (BinaryMessageEncoder)
//   decode SCHEMA.avsc IN.bin OUT.json    : single-object message -> Avro-JSON datum (BinaryMessageDecoder)
//   fingerprint SCHEMA.avsc               : the schema's CRC-64-AVRO fingerprint as a signed long
//   container FILE.avro OUT.json          : every record of an Avro container file, one Avro-JSON datum per line;
//                                           prints the file's avro.codec
//   encode-many SCHEMA.avsc IN.jsonl DIR  : each Avro-JSON line -> DIR/00000.bin, DIR/00001.bin, ... (one JVM for all)
//   decode-many SCHEMA.avsc DIR OUT.jsonl : every DIR/*.bin in name order -> one Avro-JSON datum per line
import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;

public class AvroPeer {
  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "fingerprint": {
        Schema schema = new Schema.Parser().parse(new File(args[1]));
        System.out.println(SchemaNormalization.parsingFingerprint64(schema));
        break;
      }
      case "encode": {
        Schema schema = new Schema.Parser().parse(new File(args[1]));
        String json = Files.readString(Paths.get(args[2]));
        GenericRecord datum = new GenericDatumReader<GenericRecord>(schema)
            .read(null, DecoderFactory.get().jsonDecoder(schema, json));
        ByteBuffer message = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema)
            .encode(datum);
        byte[] bytes = new byte[message.remaining()];
        message.get(bytes);
        Files.write(Paths.get(args[3]), bytes);
        break;
      }
      case "decode": {
        Schema schema = new Schema.Parser().parse(new File(args[1]));
        byte[] bytes = Files.readAllBytes(Paths.get(args[2]));
        GenericRecord datum = new BinaryMessageDecoder<GenericRecord>(GenericData.get(), schema)
            .decode(bytes);
        writeJson(schema, datum, args[3]);
        break;
      }
      case "container": {
        try (DataFileReader<GenericRecord> reader = new DataFileReader<>(
                 new File(args[1]), new GenericDatumReader<GenericRecord>());
             OutputStream out = new FileOutputStream(args[2])) {
          Schema schema = reader.getSchema();
          String codec = reader.getMetaString("avro.codec");
          System.out.println(codec == null ? "null" : codec);
          for (GenericRecord datum : reader) {
            JsonEncoder encoder = EncoderFactory.get().jsonEncoder(schema, out);
            new GenericDatumWriter<GenericRecord>(schema).write(datum, encoder);
            encoder.flush();
            out.write('\n');
          }
        }
        break;
      }
      case "encode-many": {
        Schema schema = new Schema.Parser().parse(new File(args[1]));
        BinaryMessageEncoder<GenericRecord> encoder =
            new BinaryMessageEncoder<>(GenericData.get(), schema);
        int i = 0;
        for (String json : Files.readAllLines(Paths.get(args[2]))) {
          if (json.isBlank()) continue;
          GenericRecord datum = new GenericDatumReader<GenericRecord>(schema)
              .read(null, DecoderFactory.get().jsonDecoder(schema, json));
          ByteBuffer message = encoder.encode(datum);
          byte[] bytes = new byte[message.remaining()];
          message.get(bytes);
          Files.write(Paths.get(args[3], String.format("%05d.bin", i++)), bytes);
        }
        break;
      }
      case "decode-many": {
        Schema schema = new Schema.Parser().parse(new File(args[1]));
        BinaryMessageDecoder<GenericRecord> decoder =
            new BinaryMessageDecoder<>(GenericData.get(), schema);
        File[] files = new File(args[2]).listFiles((dir, name) -> name.endsWith(".bin"));
        java.util.Arrays.sort(files);
        try (OutputStream out = new FileOutputStream(args[3])) {
          for (File file : files) {
            GenericRecord datum = decoder.decode(Files.readAllBytes(file.toPath()));
            JsonEncoder json = EncoderFactory.get().jsonEncoder(schema, out);
            new GenericDatumWriter<GenericRecord>(schema).write(datum, json);
            json.flush();
            out.write('\n');
          }
        }
        break;
      }
      default:
        throw new IllegalArgumentException("unknown command " + args[0]);
    }
  }

  private static void writeJson(Schema schema, GenericRecord datum, String path) throws Exception {
    try (OutputStream out = new FileOutputStream(path)) {
      JsonEncoder encoder = EncoderFactory.get().jsonEncoder(schema, out);
      new GenericDatumWriter<GenericRecord>(schema).write(datum, encoder);
      encoder.flush();
    }
  }
}
