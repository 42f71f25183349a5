// The C++ half of the Python module `convlab` (pybind11): PyTorch's printing, layers built from
// the registry by their PyTorch text, forward passes, parameters as numpy views of the layers'
// own memory (so that writing into state_dict() changes the layer, as in the notebooks), and
// training, evaluation and the other commands as functions. Tensors themselves are numpy arrays
// on the Python side (python/convlab/_tensor.py); nothing here keeps a Python object alive beyond
// the call, except the views, which hold their module.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>

#include "convlab/data/dataset.h"
#include "convlab/data/image_file.h"
#include "convlab/data/transform.h"
#include "convlab/error.h"
#include "convlab/experiment/compare.h"
#include "convlab/experiment/decompose.h"
#include "convlab/experiment/layer_table.h"
#include "convlab/io/file.h"
#include "convlab/nn/models.h"
#include "convlab/nn/onnx.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/sequential.h"
#include "convlab/ops/parallel.h"
#include "convlab/tensor/random.h"
#include "convlab/tensor/tensor.h"
#include "convlab/train/checkpoint.h"
#include "convlab/train/run_directory.h"
#include "convlab/train/trainer.h"
#include "convlab/train/weights.h"

namespace py = pybind11;
using namespace convlab;

namespace {

// torch.manual_seed's generator: layers drawn here are initialised from it, in creation order.
Generator& global_generator() {
  static Generator gen(0);
  return gen;
}

// Threads for forward passes (torch.set_num_threads); results are the same at any count. A call
// that runs on the pool takes its own reference while it holds the GIL, so that set_num_threads
// from another Python thread replaces the pool without freeing it under that call.
struct Threads {
  int count = 1;
  std::shared_ptr<ThreadPool> pool = std::make_shared<ThreadPool>(1);
};
Threads& threads() {
  static Threads t;
  return t;
}

// A module and what keeps it alive (a child is owned by its root).
struct ModuleHandle {
  std::shared_ptr<nn::Module> owner;
  nn::Module* module;
};

Shape shape_of(const py::buffer_info& b) {
  return Shape(b.shape.begin(), b.shape.end());
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

Tensor to_tensor(const FloatArray& a) {
  const py::buffer_info b = a.request();
  Tensor t(shape_of(b));
  std::copy_n(static_cast<const float*>(b.ptr), t.numel(), t.data());
  return t;
}

py::array_t<float> to_array(const Tensor& t) {
  py::array_t<float> a(std::vector<py::ssize_t>(t.shape().begin(), t.shape().end()));
  std::copy_n(t.data(), t.numel(), a.mutable_data());
  return a;
}

// A writable numpy view of a tensor inside a module; the view keeps the module alive.
py::array_t<float> view_of(Tensor& t, const std::shared_ptr<nn::Module>& owner) {
  auto* keep = new std::shared_ptr<nn::Module>(owner);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<nn::Module>*>(p); });
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides(shape.size());
  py::ssize_t stride = sizeof(float);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return py::array_t<float>(shape, strides, t.data(), base);
}

ModuleHandle build_layer(const std::string& text) {
  auto seq = nn::parse_model(text, "python", global_generator());
  const auto children = seq->children();
  if (children.size() != 1) throw ValueError("expected one layer; got " + excerpt(text, 80));
  // The layer alone, kept alive by the Sequential that parsed it.
  return {seq, children[0].module};
}

// A recipe given as function arguments: a value out of range is a ValueError naming it (read from
// a checkpoint header, the same check is an IoError).
train::Recipe recipe_from_python(const std::string& json) {
  try {
    train::Recipe r = train::Recipe::from_json(nlohmann::json::parse(json));
    r.validate();
    return r;
  } catch (const IoError& e) {
    throw ValueError(std::string("recipe: ") + e.what());
  }
}

// Signals arrive while C++ runs without the GIL: Python's handler only sets a flag, which
// PyErr_CheckSignals (under the GIL) turns into KeyboardInterrupt.
int python_stop_requested() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) {
    PyErr_Clear();
    return SIGINT;
  }
  return 0;
}

std::pair<nlohmann::json, std::shared_ptr<nn::Sequential>> run_training(
    const std::string& recipe_json, const std::string& data, const std::string& out,
    const std::string& resume, bool overwrite, int thread_count, const py::object& on_epoch) {
  const data::Dataset train_set = data::load_dataset(data, true);
  const data::Dataset test_set = data::load_dataset(data, false);
  std::unique_ptr<train::Trainer> trainer;
  train::RunMode mode = overwrite ? train::RunMode::overwrite : train::RunMode::fresh;
  const train::Recipe given = recipe_from_python(recipe_json);
  if (!resume.empty()) {
    trainer = train::Trainer::resume(resume, train_set, test_set, given.epochs, thread_count);
    mode = train::RunMode::resume;
  } else {
    trainer = std::make_unique<train::Trainer>(given, train_set, test_set, thread_count);
  }
  train::Progress progress;
  progress.stop_requested = python_stop_requested;
  if (!on_epoch.is_none())
    progress.on_epoch = [&](const train::EpochRecord& r) {
      py::gil_scoped_acquire gil;
      on_epoch(py::module_::import("json").attr("loads")(r.to_json().dump()));
    };
  {
    const train::RunLock lock =
        out.empty() ? train::RunLock() : train::prepare_run_directory(out, mode);
    trainer->fit(out, progress);
  }
  return {trainer->metrics_json(), trainer->shared_model()};
}

nn::Sequential& as_model(const ModuleHandle& h) {
  auto* seq = dynamic_cast<nn::Sequential*>(h.module);
  if (!seq)
    throw ValueError("expected a model (a Sequential); got " + h.module->type_name() +
                     ": wrap it as nn.Sequential(layer)");
  return *seq;
}

py::dict dataset_dict(const data::Dataset& d) {
  py::array_t<uint8_t> images({static_cast<py::ssize_t>(d.size()), py::ssize_t(d.channels),
                               py::ssize_t(d.height), py::ssize_t(d.width)});
  std::copy(d.images.begin(), d.images.end(), images.mutable_data());
  py::array_t<uint8_t> labels(static_cast<py::ssize_t>(d.size()));
  std::copy(d.labels.begin(), d.labels.end(), labels.mutable_data());
  py::dict out;
  out["name"] = d.name;
  out["images"] = images;
  out["labels"] = labels;
  out["classes"] = d.classes;
  return out;
}

}  // namespace

PYBIND11_MODULE(_convlab, m) {
  m.doc() = "convlab's C++ core (use the convlab package, not this module)";

  // Errors keep their one-line messages: bad values and shapes are ValueError, files OSError,
  // Ctrl-C during training KeyboardInterrupt.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const train::Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const IoError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def(
      "repr", [](const FloatArray& a) { return repr(a.data(), shape_of(a.request())); },
      "PyTorch's repr of a float32 array: tensor([...])");
  m.def("manual_seed", [](uint64_t seed) { global_generator().manual_seed(seed); });
  m.def("next_seed", [] {
    Generator& g = global_generator();
    return (uint64_t(g.next_u32()) << 32) | g.next_u32();
  });
  m.def("set_num_threads", [](int n) {
    if (n < 1 || n > 256) throw ValueError("threads must be 1 to 256; got " + std::to_string(n));
    threads().count = n;
    threads().pool = std::make_shared<ThreadPool>(n);
  });
  m.def("get_num_threads", [] { return threads().count; });
  m.def("layer_names", [] { return nn::LayerRegistry::builtin().names(); });
  m.def("layer_parameters", [](const std::string& name) {
    const nn::LayerSpec* spec = nn::LayerRegistry::builtin().find(name);
    if (!spec) throw ValueError("unknown layer " + excerpt(name, 40));
    return spec->parameters;
  });

  py::class_<ModuleHandle>(m, "Module")
      .def("type_name", [](const ModuleHandle& h) { return h.module->type_name(); })
      .def("repr", [](const ModuleHandle& h) { return h.module->repr(); })
      .def("train", [](ModuleHandle& h, bool on) { h.module->train(on); })
      .def("is_training", [](const ModuleHandle& h) { return h.module->is_training(); })
      .def("forward",
           [](ModuleHandle& h, const FloatArray& input) {
             const Tensor x = to_tensor(input);
             Tensor y;
             const std::shared_ptr<ThreadPool> pool = threads().pool;
             {
               py::gil_scoped_release nogil;
               PoolScope scope(pool.get());
               h.module->forward(x, y);
             }
             return to_array(y);
           })
      .def("children",
           [](ModuleHandle& h) {
             std::vector<std::pair<std::string, ModuleHandle>> out;
             for (const nn::NamedChild& c : h.module->children())
               out.push_back({c.name, ModuleHandle{h.owner, c.module}});
             return out;
           })
      .def("state_dict",
           [](ModuleHandle& h) {
             // (name, array, is_parameter, integer): float entries are views of the module's
             // memory; integer buffers (num_batches_tracked) are copies, as int64.
             py::list out;
             for (const nn::NamedTensor& t : nn::state_dict(*h.module)) {
               py::object value = t.integer ? py::object(py::int_(static_cast<int64_t>(
                                                  t.value->numel() ? t.value->data()[0] : 0)))
                                            : py::object(view_of(*t.value, h.owner));
               out.append(py::make_tuple(t.name, value, t.is_parameter, t.integer));
             }
             return out;
           })
      .def("set_buffer_integer", [](ModuleHandle& h, const std::string& name, int64_t v) {
        for (const nn::NamedTensor& t : nn::state_dict(*h.module))
          if (t.name == name && t.integer && t.value->numel() == 1) {
            t.value->data()[0] = static_cast<float>(v);
            return;
          }
        throw ValueError("no integer buffer named " + excerpt(name, 60));
      });

  m.def("build_layer", &build_layer,
        "One layer from its PyTorch text, initialised as PyTorch does");
  m.def(
      "build_model",
      [](const std::string& name_or_text, bool scratch) {
        // scratch: the values are replaced at once (a container of existing layers), so they
        // are drawn from a generator of their own, leaving torch.manual_seed's untouched.
        Generator local(0);
        Generator& gen = scratch ? local : global_generator();
        std::shared_ptr<nn::Module> model = name_or_text.find('(') == std::string::npos
                                                ? nn::build_model(name_or_text, gen)
                                                : nn::parse_model(name_or_text, "python", gen);
        return ModuleHandle{model, model.get()};
      },
      py::arg("name_or_text"), py::arg("scratch") = false,
      "'standard', 'sumfirst', a model file, an ONNX file, or model text");
  m.def(
      "train",
      [](const std::string& recipe, const std::string& data, const std::string& out,
         const std::string& resume, bool overwrite, int thread_count, py::object on_epoch) {
        std::pair<nlohmann::json, std::shared_ptr<nn::Sequential>> result;
        {
          py::gil_scoped_release nogil;
          result = run_training(recipe, data, out, resume, overwrite, thread_count, on_epoch);
        }
        std::shared_ptr<nn::Module> model = result.second;
        return py::make_tuple(result.first.dump(), ModuleHandle{model, model.get()});
      },
      py::arg("recipe"), py::arg("data"), py::arg("out"), py::arg("resume") = "",
      py::arg("overwrite") = false, py::arg("threads") = 1, py::arg("on_epoch") = py::none());
  m.def("default_recipe", [] { return train::Recipe{}.to_json().dump(); });

  m.def("load_dataset", [](const std::string& dir, bool train) {
    data::Dataset d;
    {
      py::gil_scoped_release nogil;
      d = data::load_dataset(dir, train);
    }
    return dataset_dict(d);
  });
  m.def("load_checkpoint", [](const std::string& path) {
    const train::Checkpoint c = train::load_checkpoint(path);
    std::shared_ptr<nn::Module> model = train::load_model(c);
    std::string normalize;
    if (c.header.contains("recipe") && c.header["recipe"].contains("normalize") &&
        c.header["recipe"]["normalize"].is_string())
      normalize = c.header["recipe"]["normalize"].get<std::string>();
    std::vector<std::string> classes;
    if (c.header.contains("classes") && c.header["classes"].is_array())
      for (const auto& name : c.header["classes"])
        if (name.is_string()) classes.push_back(name.get<std::string>());
    return py::make_tuple(ModuleHandle{model, model.get()}, normalize, classes);
  });
  m.def(
      "read_image",
      [](const std::string& path, int64_t channels, int64_t height, int64_t width, bool resize) {
        return to_array(data::read_image(path, data::ImageSize{channels, height, width}, resize));
      },
      "A PNG, JPEG or BMP file as a (1, C, H, W) float32 array scaled to [0, 1]");
  m.def("load_weights",
        [](ModuleHandle& h, const std::string& path) { train::load_weights(*h.module, path); });
  m.def(
      "evaluate",
      [](ModuleHandle& h, const std::string& dir, bool train, int64_t batch_size,
         const std::string& normalize, int thread_count) {
        nn::Sequential& model = as_model(h);
        std::string json;
        {
          py::gil_scoped_release nogil;
          const data::Dataset d = data::load_dataset(dir, train);
          const data::Transform t = data::Transform::parse("", normalize);
          ThreadPool pool(thread_count);
          PoolScope scope(&pool);
          json = train::evaluate(model, d, batch_size, &t).to_json(d.classes).dump();
        }
        return json;
      },
      py::arg("model"), py::arg("data"), py::arg("train") = false, py::arg("batch_size") = 64,
      py::arg("normalize") = "", py::arg("threads") = 1);
  m.def("export", [](ModuleHandle& h, const std::string& to) {
    nn::Sequential& model = as_model(h);
    if (to.ends_with(".onnx"))
      nn::export_onnx(model, to);
    else if (to.ends_with(".safetensors"))
      train::save_weights(model, to, model.repr());
    else
      throw ValueError("export: '" + excerpt(to, 80) +
                       "' must end in .onnx or .safetensors (the two formats convlab writes)");
  });
  m.def("inspect", [](ModuleHandle& h, const FloatArray& image) {
    nn::Sequential& model = as_model(h);
    const Tensor x = to_tensor(image);
    std::string json;
    const std::shared_ptr<ThreadPool> pool = threads().pool;
    {
      py::gil_scoped_release nogil;
      PoolScope scope(pool.get());
      json = experiment::layer_table(model, x).dump();
    }
    return json;
  });
  m.def(
      "decompose",
      [](ModuleHandle& h, const FloatArray& image, const std::string& layer, int64_t filter,
         bool include_bias) {
        nn::Sequential& model = as_model(h);
        const experiment::Decomposition d =
            experiment::decompose(model, to_tensor(image), layer, filter, include_bias);
        py::dict out;
        out["layer"] = d.layer;
        out["layer_repr"] = d.layer_repr;
        out["filter"] = d.filter;
        py::list contributions;
        for (const Tensor& t : d.contributions) contributions.append(to_array(t));
        out["contributions"] = contributions;
        out["bias"] = d.bias;
        out["bias_included"] = d.bias_included;
        out["combined"] = to_array(d.combined);
        out["layer_output"] = to_array(d.layer_output);
        out["matches"] = d.matches;
        return out;
      },
      py::arg("model"), py::arg("image"), py::arg("layer"), py::arg("filter"),
      py::arg("include_bias") = true);
  m.def(
      "compare",
      [](const std::string& recipe_json, const std::string& dir, const std::string& out,
         int64_t seeds, int thread_count, bool overwrite) {
        experiment::CompareOptions o;
        o.recipe = recipe_from_python(recipe_json);
        o.seeds = seeds;
        o.out_dir = out;
        o.parallel = thread_count >= 2;
        o.threads_per_model = std::max(1, thread_count / 2);
        std::string summary;
        {
          py::gil_scoped_release nogil;
          const data::Dataset train_set = data::load_dataset(dir, true);
          const data::Dataset test_set = data::load_dataset(dir, false);
          const train::RunLock lock = train::prepare_run_directory(
              out, overwrite ? train::RunMode::overwrite : train::RunMode::fresh);
          train::Progress progress;
          progress.stop_requested = python_stop_requested;
          const auto summaries = experiment::compare(
              o, train_set, test_set, [&](const std::string&, int64_t) { return progress; });
          summary = experiment::summary_table(summaries);
        }
        return summary;
      },
      py::arg("recipe"), py::arg("data"), py::arg("out"), py::arg("seeds") = 1,
      py::arg("threads") = 2, py::arg("overwrite") = false);
}
