//! The ONNX protobuf schema (`onnx.proto`, package `onnx`, IR version 14 as shipped with onnx 1.23),
//! written out as prost derive structs.
//!
//! The names, tags, nesting and field types are the ones `prost-build` generates for `onnx.proto`, so
//! code written against a generated module works against this one. They are written by hand rather than
//! generated so that building the crate needs neither `protoc` nor a build script.
//!
//! ONNX uses proto2: every singular scalar is an `Option` (presence is part of the message), and repeated
//! numbers are encoded unpacked unless the schema says `[packed = true]`.

/// Declares a protobuf enum together with the `as_str_name`/`from_str_name` pair prost-build emits.
macro_rules! proto_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $proto:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )*
        }

        impl $name {
            /// The value's name exactly as written in `onnx.proto`.
            pub fn as_str_name(&self) -> &'static str {
                match self {
                    $( Self::$variant => $proto, )*
                }
            }

            /// The value with this `onnx.proto` name, if there is one.
            pub fn from_str_name(value: &str) -> Option<Self> {
                match value {
                    $( $proto => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

/// A named attribute of a node or function: exactly one of the value fields is meant to be set,
/// as `type` says.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AttributeProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Inside a function body: the name of the function attribute this one takes its value from.
    #[prost(string, optional, tag = "21")]
    pub ref_attr_name: Option<String>,
    #[prost(string, optional, tag = "13")]
    pub doc_string: Option<String>,
    #[prost(enumeration = "attribute_proto::AttributeType", optional, tag = "20")]
    pub r#type: Option<i32>,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(message, optional, boxed, tag = "6")]
    pub g: Option<Box<GraphProto>>,
    #[prost(message, optional, tag = "22")]
    pub sparse_tensor: Option<SparseTensorProto>,
    #[prost(message, optional, tag = "14")]
    pub tp: Option<TypeProto>,
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub graphs: Vec<GraphProto>,
    #[prost(message, repeated, tag = "23")]
    pub sparse_tensors: Vec<SparseTensorProto>,
    #[prost(message, repeated, tag = "15")]
    pub type_protos: Vec<TypeProto>,
}

/// Nested types of [`AttributeProto`].
pub mod attribute_proto {
    proto_enum! {
        /// Which value field of an attribute is in use.
        AttributeType {
            Undefined = 0 => "UNDEFINED",
            Float = 1 => "FLOAT",
            Int = 2 => "INT",
            String = 3 => "STRING",
            Tensor = 4 => "TENSOR",
            Graph = 5 => "GRAPH",
            SparseTensor = 11 => "SPARSE_TENSOR",
            TypeProto = 13 => "TYPE_PROTO",
            Floats = 6 => "FLOATS",
            Ints = 7 => "INTS",
            Strings = 8 => "STRINGS",
            Tensors = 9 => "TENSORS",
            Graphs = 10 => "GRAPHS",
            SparseTensors = 12 => "SPARSE_TENSORS",
            TypeProtos = 14 => "TYPE_PROTOS",
        }
    }
}

/// A named value (graph input, output or intermediate) and its type.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct ValueInfoProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, optional, tag = "3")]
    pub doc_string: Option<String>,
    #[prost(message, repeated, tag = "4")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// One operator application in a graph or function body.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
    /// Selects one of several functions sharing `(domain, op_type)`.
    #[prost(string, optional, tag = "8")]
    pub overload: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    #[prost(message, repeated, tag = "9")]
    pub metadata_props: Vec<StringStringEntryProto>,
    #[prost(message, repeated, tag = "10")]
    pub device_configurations: Vec<NodeDeviceConfigurationProto>,
}

/// A key with a list of integers (used for device-group maps in sharding specs).
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct IntIntListEntryProto {
    #[prost(int64, optional, tag = "1")]
    pub key: Option<i64>,
    #[prost(int64, repeated, packed = "false", tag = "2")]
    pub value: Vec<i64>,
}

/// How one node runs under a multi-device configuration.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct NodeDeviceConfigurationProto {
    #[prost(string, optional, tag = "1")]
    pub configuration_id: Option<String>,
    #[prost(message, repeated, tag = "2")]
    pub sharding_spec: Vec<ShardingSpecProto>,
    #[prost(int32, optional, tag = "3")]
    pub pipeline_stage: Option<i32>,
}

/// How one tensor of a node is split across devices.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct ShardingSpecProto {
    #[prost(string, optional, tag = "1")]
    pub tensor_name: Option<String>,
    #[prost(int64, repeated, packed = "false", tag = "2")]
    pub device: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub index_to_device_group_map: Vec<IntIntListEntryProto>,
    #[prost(message, repeated, tag = "4")]
    pub sharded_dim: Vec<ShardedDimProto>,
}

/// The sharding of one axis of a tensor.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct ShardedDimProto {
    #[prost(int64, optional, tag = "1")]
    pub axis: Option<i64>,
    #[prost(message, repeated, tag = "2")]
    pub simple_sharding: Vec<SimpleShardedDimProto>,
}

/// An even split of (part of) an axis into `num_shards` pieces.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct SimpleShardedDimProto {
    #[prost(int64, optional, tag = "3")]
    pub num_shards: Option<i64>,
    #[prost(oneof = "simple_sharded_dim_proto::Dim", tags = "1, 2")]
    pub dim: Option<simple_sharded_dim_proto::Dim>,
}

/// Nested types of [`SimpleShardedDimProto`].
pub mod simple_sharded_dim_proto {
    /// The length of the sharded range: a number or a symbolic name.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Oneof)]
    pub enum Dim {
        #[prost(int64, tag = "1")]
        DimValue(i64),
        #[prost(string, tag = "2")]
        DimParam(String),
    }
}

/// Training information: a graph that initializes state and a graph that performs one step.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TrainingInfoProto {
    #[prost(message, optional, tag = "1")]
    pub initialization: Option<GraphProto>,
    #[prost(message, optional, tag = "2")]
    pub algorithm: Option<GraphProto>,
    #[prost(message, repeated, tag = "3")]
    pub initialization_binding: Vec<StringStringEntryProto>,
    #[prost(message, repeated, tag = "4")]
    pub update_binding: Vec<StringStringEntryProto>,
}

/// A whole model: the top-level message of an `.onnx` file.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ModelProto {
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub domain: Option<String>,
    #[prost(int64, optional, tag = "5")]
    pub model_version: Option<i64>,
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
    #[prost(message, repeated, tag = "20")]
    pub training_info: Vec<TrainingInfoProto>,
    #[prost(message, repeated, tag = "25")]
    pub functions: Vec<FunctionProto>,
    #[prost(message, repeated, tag = "26")]
    pub configuration: Vec<DeviceConfigurationProto>,
}

/// A named set of devices a model can be distributed over.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct DeviceConfigurationProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub num_devices: Option<i32>,
    #[prost(string, repeated, tag = "3")]
    pub device: Vec<String>,
}

/// A string key/value pair (metadata, external-data locations, bindings).
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct StringStringEntryProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// Quantization parameters attached to a tensor by name.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct TensorAnnotation {
    #[prost(string, optional, tag = "1")]
    pub tensor_name: Option<String>,
    #[prost(message, repeated, tag = "2")]
    pub quant_parameter_tensor_names: Vec<StringStringEntryProto>,
}

/// A computation graph: nodes in topological order plus its inputs, outputs and constants.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "15")]
    pub sparse_initializer: Vec<SparseTensorProto>,
    #[prost(string, optional, tag = "10")]
    pub doc_string: Option<String>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "14")]
    pub quantization_annotation: Vec<TensorAnnotation>,
    #[prost(message, repeated, tag = "16")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// A dense tensor value. Its data lives in `raw_data`, in the typed field that matches `data_type`,
/// or (when `data_location` is `EXTERNAL`) in a file named by `external_data`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// A [`tensor_proto::DataType`] value; the schema declares it as a plain `int32`.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    #[prost(message, optional, tag = "3")]
    pub segment: Option<tensor_proto::Segment>,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub doc_string: Option<String>,
    /// Little-endian element bytes; sub-byte types are packed LSB first.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    /// `location`, `offset`, `length` and `checksum` entries when the data is external.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    #[prost(enumeration = "tensor_proto::DataLocation", optional, tag = "14")]
    pub data_location: Option<i32>,
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
    #[prost(message, repeated, tag = "16")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// Nested types of [`TensorProto`].
pub mod tensor_proto {
    /// The element range `[begin, end)` this message holds when a tensor is split into chunks.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Segment {
        #[prost(int64, optional, tag = "1")]
        pub begin: Option<i64>,
        #[prost(int64, optional, tag = "2")]
        pub end: Option<i64>,
    }

    proto_enum! {
        /// Element type of a tensor.
        DataType {
            Undefined = 0 => "UNDEFINED",
            Float = 1 => "FLOAT",
            Uint8 = 2 => "UINT8",
            Int8 = 3 => "INT8",
            Uint16 = 4 => "UINT16",
            Int16 = 5 => "INT16",
            Int32 = 6 => "INT32",
            Int64 = 7 => "INT64",
            String = 8 => "STRING",
            Bool = 9 => "BOOL",
            Float16 = 10 => "FLOAT16",
            Double = 11 => "DOUBLE",
            Uint32 = 12 => "UINT32",
            Uint64 = 13 => "UINT64",
            Complex64 = 14 => "COMPLEX64",
            Complex128 = 15 => "COMPLEX128",
            Bfloat16 = 16 => "BFLOAT16",
            Float8e4m3fn = 17 => "FLOAT8E4M3FN",
            Float8e4m3fnuz = 18 => "FLOAT8E4M3FNUZ",
            Float8e5m2 = 19 => "FLOAT8E5M2",
            Float8e5m2fnuz = 20 => "FLOAT8E5M2FNUZ",
            Uint4 = 21 => "UINT4",
            Int4 = 22 => "INT4",
            Float4e2m1 = 23 => "FLOAT4E2M1",
            Float8e8m0 = 24 => "FLOAT8E8M0",
            Uint2 = 25 => "UINT2",
            Int2 = 26 => "INT2",
            Float6e2m3 = 27 => "FLOAT6E2M3",
            Float6e3m2 = 28 => "FLOAT6E3M2",
        }
    }

    proto_enum! {
        /// Where a tensor's data is stored.
        DataLocation {
            Default = 0 => "DEFAULT",
            External = 1 => "EXTERNAL",
        }
    }
}

/// A sparse tensor in coordinate form: `values` at `indices` within a tensor of shape `dims`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    pub values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    pub indices: Option<TensorProto>,
    #[prost(int64, repeated, packed = "false", tag = "3")]
    pub dims: Vec<i64>,
}

/// A tensor shape whose dimensions may be numbers, names or unknown.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// Nested types of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// One dimension; neither value set means unknown.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Dimension {
        #[prost(string, optional, tag = "3")]
        pub denotation: Option<String>,
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
    }

    /// Nested types of [`Dimension`].
    pub mod dimension {
        /// A fixed size or a symbolic name shared by equal dimensions.
        #[derive(Clone, PartialEq, Eq, Hash, ::prost::Oneof)]
        pub enum Value {
            #[prost(int64, tag = "1")]
            DimValue(i64),
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}

/// The type of a value: tensor, sequence, map, optional, sparse tensor or opaque.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct TypeProto {
    #[prost(string, optional, tag = "6")]
    pub denotation: Option<String>,
    #[prost(oneof = "type_proto::Value", tags = "1, 4, 5, 9, 8, 7")]
    pub value: Option<type_proto::Value>,
}

/// Nested types of [`TypeProto`].
pub mod type_proto {
    /// A dense tensor type.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Tensor {
        /// A [`super::tensor_proto::DataType`] value.
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// A sequence of values of one type.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Sequence {
        #[prost(message, optional, boxed, tag = "1")]
        pub elem_type: Option<Box<super::TypeProto>>,
    }

    /// A map from a scalar key type to a value type.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Map {
        /// A [`super::tensor_proto::DataType`] value (an integer or string type).
        #[prost(int32, optional, tag = "1")]
        pub key_type: Option<i32>,
        #[prost(message, optional, boxed, tag = "2")]
        pub value_type: Option<Box<super::TypeProto>>,
    }

    /// A value that may be absent.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Optional {
        #[prost(message, optional, boxed, tag = "1")]
        pub elem_type: Option<Box<super::TypeProto>>,
    }

    /// A sparse tensor type.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct SparseTensor {
        /// A [`super::tensor_proto::DataType`] value.
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// A type known only to a particular runtime, named by domain and name.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
    pub struct Opaque {
        #[prost(string, optional, tag = "1")]
        pub domain: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
    }

    /// Which kind of type this is.
    #[derive(Clone, PartialEq, Eq, Hash, ::prost::Oneof)]
    pub enum Value {
        #[prost(message, tag = "1")]
        TensorType(Tensor),
        #[prost(message, tag = "4")]
        SequenceType(Box<Sequence>),
        #[prost(message, tag = "5")]
        MapType(Box<Map>),
        #[prost(message, tag = "9")]
        OptionalType(Box<Optional>),
        #[prost(message, tag = "8")]
        SparseTensorType(SparseTensor),
        #[prost(message, tag = "7")]
        OpaqueType(Opaque),
    }
}

/// An operator set a model or function uses: empty or `ai.onnx` domain means the default set.
#[derive(Clone, PartialEq, Eq, Hash, ::prost::Message)]
pub struct OperatorSetIdProto {
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// A model-local function: a body of nodes callable as an operator `(domain, name)`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FunctionProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, repeated, tag = "4")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "5")]
    pub output: Vec<String>,
    /// Attribute names without defaults.
    #[prost(string, repeated, tag = "6")]
    pub attribute: Vec<String>,
    /// Attributes with default values.
    #[prost(message, repeated, tag = "11")]
    pub attribute_proto: Vec<AttributeProto>,
    #[prost(message, repeated, tag = "7")]
    pub node: Vec<NodeProto>,
    #[prost(string, optional, tag = "8")]
    pub doc_string: Option<String>,
    #[prost(message, repeated, tag = "9")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, optional, tag = "10")]
    pub domain: Option<String>,
    #[prost(string, optional, tag = "13")]
    pub overload: Option<String>,
    #[prost(message, repeated, tag = "12")]
    pub value_info: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

proto_enum! {
    /// IR versions of the ONNX format; `IrVersion` is the newest this schema describes.
    Version {
        StartVersion = 0 => "_START_VERSION",
        IrVersion20171010 = 1 => "IR_VERSION_2017_10_10",
        IrVersion20171030 = 2 => "IR_VERSION_2017_10_30",
        IrVersion2017113 = 3 => "IR_VERSION_2017_11_3",
        IrVersion2019122 = 4 => "IR_VERSION_2019_1_22",
        IrVersion2019318 = 5 => "IR_VERSION_2019_3_18",
        IrVersion2019919 = 6 => "IR_VERSION_2019_9_19",
        IrVersion202058 = 7 => "IR_VERSION_2020_5_8",
        IrVersion2021730 = 8 => "IR_VERSION_2021_7_30",
        IrVersion202355 = 9 => "IR_VERSION_2023_5_5",
        IrVersion2024325 = 10 => "IR_VERSION_2024_3_25",
        IrVersion20250512 = 11 => "IR_VERSION_2025_05_12",
        IrVersion20250826 = 12 => "IR_VERSION_2025_08_26",
        IrVersion20251106 = 13 => "IR_VERSION_2025_11_06",
        IrVersion = 14 => "IR_VERSION",
    }
}

proto_enum! {
    /// Whether an operator or function is stable.
    OperatorStatus {
        Experimental = 0 => "EXPERIMENTAL",
        Stable = 1 => "STABLE",
    }
}
