"""The exceptions raised for unusable data files (missing, corrupted, wrong shape)."""
import errno


class DataFileError(ValueError):
    """A data file (image, label archive, info file, point cloud) exists but cannot be used.

    Missing files raise ``FileNotFoundError`` instead; both carry the offending path in
    their message and in ``.filename``, so a failure in a dataloader worker names the file.

    Args:
        filename (str): the path of the bad file.
        reason (str): what is wrong with it, one line.
    """

    def __init__(self, filename, reason):
        self.filename = str(filename)
        self.reason = reason
        super().__init__(f'{self.filename}: {reason}')


def missing_file(filename, what):
    """``FileNotFoundError`` naming ``filename``; ``what`` says which kind of file it is."""
    # the 3-argument form sets .errno/.filename and prints "[Errno 2] <what> not found: '<path>'"
    return FileNotFoundError(errno.ENOENT, f'{what} not found', str(filename))
