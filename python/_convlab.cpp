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
#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/sequential.h"
#include "convlab/ops/parallel.h"
#include "convlab/tensor/random.h"
#include "convlab/tensor/tensor.h"
#include "convlab/train/run_directory.h"
#include "convlab/train/trainer.h"

namespace py = pybind11;
using namespace convlab;

namespace {

// torch.manual_seed's generator: layers drawn here are initialised from it, in creation order.
Generator& global_generator() {
  static Generator gen(0);
  return gen;
}

// Threads for forward passes (torch.set_num_threads); results are the same at any count.
struct Threads {
  int count = 1;
  std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(1);
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

nlohmann::json run_training(const std::string& recipe_json, const std::string& data,
                            const std::string& out, const std::string& resume, bool overwrite,
                            int thread_count, const py::object& on_epoch) {
  const data::Dataset train_set = data::load_dataset(data, true);
  const data::Dataset test_set = data::load_dataset(data, false);
  std::unique_ptr<train::Trainer> trainer;
  train::RunMode mode = overwrite ? train::RunMode::overwrite : train::RunMode::fresh;
  const train::Recipe given = train::Recipe::from_json(nlohmann::json::parse(recipe_json));
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
  return trainer->metrics_json();
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
    threads().pool = std::make_unique<ThreadPool>(n);
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
             {
               py::gil_scoped_release nogil;
               PoolScope scope(threads().pool.get());
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
        nlohmann::json metrics;
        {
          py::gil_scoped_release nogil;
          metrics = run_training(recipe, data, out, resume, overwrite, thread_count, on_epoch);
        }
        return metrics.dump();
      },
      py::arg("recipe"), py::arg("data"), py::arg("out"), py::arg("resume") = "",
      py::arg("overwrite") = false, py::arg("threads") = 1, py::arg("on_epoch") = py::none());
  m.def("default_recipe", [] { return train::Recipe{}.to_json().dump(); });
}
