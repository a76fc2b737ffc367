// The ELF pre-check and the identity check of a plugin file (plugin/plugin_identity.h).
#include "plugin/plugin_identity.h"

#include <elf.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "util/strings.h"

namespace llmrt {
namespace {

#if defined(__x86_64__)
constexpr std::uint16_t kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::uint16_t kHostMachine = EM_AARCH64;
#else
constexpr std::uint16_t kHostMachine = EM_NONE;  // unknown host: the machine field is not checked
#endif

std::string machine_name(std::uint16_t machine) {
  switch (machine) {
    case EM_X86_64: return "62 (x86-64)";
    case EM_AARCH64: return "183 (AArch64)";
    case EM_386: return "3 (i386)";
    case EM_ARM: return "40 (ARM)";
    case EM_RISCV: return "243 (RISC-V)";
    case EM_PPC64: return "21 (PowerPC64)";
    default: return std::to_string(machine);
  }
}

std::string type_name(std::uint16_t type) {
  switch (type) {
    case ET_REL: return "1 (ET_REL: an object file; link it into a shared library)";
    case ET_EXEC: return "2 (ET_EXEC: an executable)";
    case ET_DYN: return "3 (ET_DYN)";
    case ET_CORE: return "4 (ET_CORE: a core dump)";
    default: return std::to_string(type);
  }
}

// Reads `count` bytes at `offset`; false when the file ends first.
bool read_at(std::ifstream& file, std::uint64_t offset, void* out, std::size_t count) {
  file.clear();
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(static_cast<char*>(out), static_cast<std::streamsize>(count));
  return file.gcount() == static_cast<std::streamsize>(count);
}

Status check_ident(const unsigned char* ident, std::size_t have) {
  if (have < SELFMAG || std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    std::string found;
    for (std::size_t i = 0; i < std::min<std::size_t>(have, SELFMAG); ++i) found += fmt::format("{:02x}", ident[i]);
    return input_error("not an ELF shared object: expected the bytes 7f454c46 ('\\x7fELF') at the start, found '{}'",
                       found);
  }
  if (have < sizeof(Elf64_Ehdr)) {
    return input_error("truncated ELF file: {} bytes, expected at least the {}-byte ELF header", have,
                       sizeof(Elf64_Ehdr));
  }
  if (ident[EI_CLASS] != ELFCLASS64) {
    return input_error("ELF class: expected 2 (64-bit), found {}{}", ident[EI_CLASS],
                       ident[EI_CLASS] == ELFCLASS32 ? " (32-bit)" : "");
  }
  if (ident[EI_DATA] != ELFDATA2LSB) {
    return input_error("ELF data encoding: expected 1 (little-endian), found {}", ident[EI_DATA]);
  }
  if (ident[EI_VERSION] != EV_CURRENT) {
    return input_error("ELF version: expected {}, found {}", EV_CURRENT, ident[EI_VERSION]);
  }
  return Status::success();
}

Status check_header(const Elf64_Ehdr& header, std::uint64_t file_size) {
  if (header.e_type != ET_DYN) {
    return input_error("ELF type: expected 3 (ET_DYN: a shared object), found {}", type_name(header.e_type));
  }
  if (kHostMachine != EM_NONE && header.e_machine != kHostMachine) {
    return input_error("ELF machine: expected {} (this host), found {}", machine_name(kHostMachine),
                       machine_name(header.e_machine));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return input_error("ELF program header size: expected {}, found {}", sizeof(Elf64_Phdr), header.e_phentsize);
  }
  if (header.e_phnum == 0 || header.e_phnum == PN_XNUM) {
    return input_error("ELF program headers: expected 1 to {}, found {}", PN_XNUM - 1, header.e_phnum);
  }
  const std::uint64_t table_bytes = std::uint64_t{header.e_phnum} * sizeof(Elf64_Phdr);
  if (header.e_phoff > file_size || table_bytes > file_size - header.e_phoff) {
    return input_error("truncated ELF file: the program headers ({} bytes at offset {}) end past its {} bytes",
                       table_bytes, header.e_phoff, file_size);
  }
  return Status::success();
}

// Every loaded segment within the file, and a dynamic section (what makes it loadable by dlopen).
Status check_segments(const std::vector<Elf64_Phdr>& segments, std::uint64_t file_size) {
  bool loads = false, dynamic = false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Elf64_Phdr& segment = segments[i];
    if (segment.p_type == PT_DYNAMIC) dynamic = true;
    if (segment.p_type != PT_LOAD) continue;
    loads = true;
    if (segment.p_offset > file_size || segment.p_filesz > file_size - segment.p_offset) {
      return input_error("truncated ELF file: loaded segment {} ({} bytes at offset {}) ends past its {} bytes", i,
                         segment.p_filesz, segment.p_offset, file_size);
    }
    if (segment.p_filesz > segment.p_memsz) {
      return input_error("ELF segment {}: expected its file size ({}) at most its memory size, found {}", i,
                         segment.p_filesz, segment.p_memsz);
    }
  }
  if (!loads) return input_error("ELF program headers: expected a loadable segment (PT_LOAD), found none");
  if (!dynamic) return input_error("ELF program headers: expected a dynamic segment (PT_DYNAMIC), found none "
                                   "(a static executable or object, not a shared library)");
  return Status::success();
}

}  // namespace

Status check_elf_file(const std::string& path) {
  std::error_code error;
  const std::uint64_t file_size = std::filesystem::file_size(path, error);
  if (error) return input_error("cannot read the ELF header: {}", error.message());
  std::ifstream file(path, std::ios::binary);
  if (!file) return input_error("cannot open: {}", std::strerror(errno));
  Elf64_Ehdr header{};
  file.read(reinterpret_cast<char*>(&header), sizeof header);
  LLMRT_RETURN_IF_ERROR(check_ident(header.e_ident, static_cast<std::size_t>(file.gcount())));
  LLMRT_RETURN_IF_ERROR(check_header(header, file_size));
  std::vector<Elf64_Phdr> segments(header.e_phnum);
  if (!read_at(file, header.e_phoff, segments.data(), segments.size() * sizeof(Elf64_Phdr))) {
    return input_error("cannot read the ELF program headers at byte {}", header.e_phoff);
  }
  return check_segments(segments, file_size);
}

Status check_plugin_identity(const llmrt_plugin_identity* id) {
  if (id == nullptr) return input_error("{} returned NULL: expected its identity", LLMRT_PLUGIN_ENTRY_SYMBOL);
  if (id->magic != LLMRT_PLUGIN_MAGIC) {
    return input_error("identity.magic: expected 0x{:08X}, found 0x{:08X}", LLMRT_PLUGIN_MAGIC, id->magic);
  }
  const std::size_t needed = LLMRT_STRUCT_SIZE(llmrt_plugin_identity, register_components);
  if (id->struct_size < needed) {
    return input_error("identity.struct_size: expected at least {}, found {}", needed, id->struct_size);
  }
  std::vector<std::string> problems;
  if (id->abi_major != LLMRT_ABI_MAJOR) {
    problems.push_back(fmt::format("identity.abi_major: expected {}, found {}", LLMRT_ABI_MAJOR, id->abi_major));
  }
  if (id->min_host_minor > LLMRT_ABI_MINOR) {
    problems.push_back(fmt::format("identity.min_host_minor: expected at most {} (this host's ABI minor), found {} "
                                   "(the plugin needs a newer llmrt)", LLMRT_ABI_MINOR, id->min_host_minor));
  }
  if (id->pointer_size != sizeof(void*)) {
    problems.push_back(fmt::format("identity.pointer_size: expected {}, found {}", sizeof(void*), id->pointer_size));
  }
  const std::pair<const char*, const char*> strings[] = {
      {"name", id->name}, {"version", id->version}, {"build_id", id->build_id}};
  for (const auto& [field, value] : strings) {
    if (value == nullptr || value[0] == '\0') {
      problems.push_back(fmt::format("identity.{}: expected a non-empty string, found {}", field,
                                     value == nullptr ? "NULL" : "\"\""));
    } else if (::strnlen(value, kMaxIdentityString + 1) > kMaxIdentityString) {
      problems.push_back(fmt::format("identity.{}: expected at most {} bytes, found a longer string starting '{}'",
                                     field, kMaxIdentityString, std::string_view(value, 40)));
    }
  }
  if (id->register_components == nullptr) {
    problems.push_back("identity.register_components: expected a function, found NULL");
  }
  if (!problems.empty()) return input_error("{}", join(problems, "; "));
  return Status::success();
}

}  // namespace llmrt
